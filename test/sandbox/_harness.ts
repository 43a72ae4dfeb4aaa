// Test harness for sandbox tests: the real engine, modules signed with a throwaway key and
// verified through runtime/app (so tests load only what a box would), and an app tracker that
// asserts every sandbox was destroyed with no live handle.

import type { ExecutionContext } from 'ava';
import { ManualClock } from '../../runtime/index.ts';
import {
  encodeManifest,
  generateSigningKey,
  type ModuleEntry,
  sha256Hex,
  signManifest,
  trustedKey,
  utf8,
  verifyApp,
  type VerifiedModule,
} from '../../runtime/app/index.ts';
import { AppSandbox, type AppSandboxOptions, type Engine } from '../../sandbox/index.ts';

export interface Spec {
  name: string;
  source: string;
  kind?: ModuleEntry['kind'];
  uses?: ModuleEntry['uses'];
  needs?: ModuleEntry['needs'];
}

/** Build, sign and verify an app from module sources; returns the verified modules by name. */
export async function verified(app: string, specs: Spec[]): Promise<Map<string, VerifiedModule>> {
  const { key } = await generateSigningKey();
  const bytes = new Map(specs.map((s) => [s.name, utf8(s.source)]));
  const modules: ModuleEntry[] = [];
  for (const s of specs) {
    const b = bytes.get(s.name) as Uint8Array;
    modules.push({ name: s.name, kind: s.kind ?? 'client', tier: 'boot', file: `${s.name}.js`, sha256: await sha256Hex(b), size: b.length, uses: s.uses ?? [], needs: s.needs ?? {} });
  }
  const manifest = encodeManifest({ app, version: '1.0.0', modules });
  const r = await verifyApp({ manifest, signature: await signManifest(manifest, key), modules: bytes, trusted: [await trustedKey(key.publicKey)] });
  if (!r.ok) throw r.error;
  return new Map(r.value.modules);
}

/** One module, verified. */
export async function one(source: string, spec: Partial<Spec> = {}, app = 'test'): Promise<VerifiedModule> {
  const name = spec.name ?? 'm';
  return (await verified(app, [{ ...spec, name, source }])).get(name) as VerifiedModule;
}

/** Creates AppSandboxes for one test and checks, at the end, that each was destroyed clean. */
export class Apps {
  readonly clock = new ManualClock();
  #engine: Engine;
  #made: AppSandbox[] = [];

  constructor(engine: Engine) {
    this.#engine = engine;
  }

  make(options: Partial<AppSandboxOptions> = {}, engine: Engine = this.#engine): AppSandbox {
    const app = new AppSandbox(engine, { app: 'test', side: 'box', clock: this.clock, ...options });
    this.#made.push(app);
    return app;
  }

  /** Destroy all and assert no live handles, runtimes or contexts remain. */
  finish(t: ExecutionContext): void {
    for (const a of this.#made) {
      a.destroy();
      t.is(a.liveHandles(), 0, `${a.app}: live handles after destroy`);
      t.is(a.engine.broken, undefined, `${a.app}: QuickJS aborted`);
    }
  }
}
