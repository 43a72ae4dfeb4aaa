// A portion thread's verified apps, keyed by the exact manifest, signature, keys and module bytes
// they were verified from: a thousand sessions of one app verify it once per thread, not a
// thousand times. At most 64 kept; past it the cache starts over.

import { trustedKeyFromJson, verifyApp, type TrustedKeyJson } from '../../runtime/app/index.ts';
import type { PortionSpec } from './portion-protocol.ts';

const verifiedApps = new Map<string, Promise<Awaited<ReturnType<typeof verifyApp>>>>();

export function appKey(spec: PortionSpec): string {
  const parts = [Buffer.from(spec.manifest).toString('latin1'), Buffer.from(spec.signature).toString('latin1'), JSON.stringify(spec.trusted)];
  for (const m of [...spec.modules].sort()) parts.push(m, Buffer.from(spec.sources[m] ?? new Uint8Array()).toString('latin1'));
  return parts.join('\u0000');
}

export function verified(spec: PortionSpec, key: string): Promise<Awaited<ReturnType<typeof verifyApp>>> {
  let v = verifiedApps.get(key);
  if (v === undefined) {
    const wanted = new Set(spec.modules);
    v = Promise.all(spec.trusted.map((k) => trustedKeyFromJson(k as TrustedKeyJson))).then((trusted) =>
      verifyApp({ manifest: spec.manifest, signature: spec.signature, trusted, modules: new Map(Object.entries(spec.sources)), select: (e) => wanted.has(e.name) }),
    );
    if (verifiedApps.size >= 64) verifiedApps.clear();
    verifiedApps.set(key, v);
  }
  return v;
}
