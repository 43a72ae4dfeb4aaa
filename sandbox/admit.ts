// Which modules an app sandbox may load [c6, c7]: the module's app, its name not already loaded,
// and its kind and head-end services against the side the sandbox runs on.

import { servicesUsed, type VerifiedModule } from '../runtime/app/index.ts';
import { SandboxError } from './errors.ts';
import type { ServiceHandler } from './link.ts';

export interface AdmitSide {
  readonly app: string;
  readonly side: 'box' | 'headend';
  readonly services: Readonly<Record<string, ServiceHandler>> | undefined;
}

/** The refusal of `mod` by a sandbox of `sb` (destroyed, or holding a module of that name), else undefined. */
export function admitModule(sb: AdmitSide, mod: VerifiedModule, destroyed: boolean, loaded: boolean): SandboxError | undefined {
  const where = `${sb.app}/${mod.entry.name}`;
  if (destroyed) return new SandboxError('state', where, 'the app sandbox is destroyed');
  if (mod.app !== sb.app) return new SandboxError('capability', where, `module of app ${mod.app} cannot load into ${sb.app}`);
  if (loaded) return new SandboxError('state', where, 'a module by that name is already loaded');
  const services = servicesUsed(mod.entry);
  if (sb.side === 'box') {
    // Peer and server modules, and anything bound to a head-end service, never run on a box.
    if (mod.entry.kind === 'server' || mod.entry.kind === 'peer') return new SandboxError('capability', where, `a ${mod.entry.kind} module never runs on a box`);
    if (services.length > 0) return new SandboxError('capability', where, `uses head-end service "${services[0]}", so it is pinned to the head-end`);
  } else if (mod.entry.kind === 'client') {
    return new SandboxError('capability', where, 'a client module runs on the box only');
  }
  const missing = services.find((s) => sb.services?.[s] === undefined);
  if (missing !== undefined) return new SandboxError('capability', where, `this head-end has no service "${missing}"`);
  return undefined;
}
