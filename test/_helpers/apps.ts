// Signed test apps built in memory: module sources in, a PublishedApp (manifest bytes,
// signature, sources) and the trusted key out — what a head-end or box would be given.

import { encodeManifest, generateSigningKey, sha256Hex, signManifest, trustedKey, trustedKeyToJson, utf8, type ModuleEntry, type SigningKey, type TrustedKeyJson } from '../../runtime/app/index.ts';
import type { PublishedApp } from '../../headend/app-catalog.ts';

export interface ModuleSpec {
  name: string;
  kind: ModuleEntry['kind'];
  source: string;
  tier?: ModuleEntry['tier'];
  uses?: ModuleEntry['uses'];
  needs?: ModuleEntry['needs'];
  critical?: ModuleEntry['critical'];
  durability?: ModuleEntry['durability'];
  scope?: ModuleEntry['scope'];
}

/** `signWith`: sign with this key (two versions of one app by one publisher); default a new key. */
export async function signedApp(app: string, specs: ModuleSpec[], version = '1.0.0', signWith?: SigningKey): Promise<{ pub: PublishedApp; trusted: TrustedKeyJson[]; key: SigningKey }> {
  const key = signWith ?? (await generateSigningKey()).key;
  const sources: Record<string, Uint8Array> = {};
  const modules: ModuleEntry[] = [];
  for (const s of specs) {
    const b = utf8(s.source);
    sources[s.name] = b;
    modules.push({ name: s.name, kind: s.kind, tier: s.tier ?? 'boot', file: `${s.name}.js`, sha256: await sha256Hex(b), size: b.length, uses: s.uses ?? [], needs: s.needs ?? {}, ...(s.critical === undefined ? {} : { critical: s.critical }), ...(s.durability === undefined ? {} : { durability: s.durability }), ...(s.scope === undefined ? {} : { scope: s.scope }) });
  }
  const manifest = { app, version, modules };
  const manifestBytes = encodeManifest(manifest);
  const signature = await signManifest(manifestBytes, key);
  return { pub: { manifest, manifestBytes, signature, sources }, trusted: [trustedKeyToJson(await trustedKey(key.publicKey))], key };
}

/** A small app of every kind: a client UI, a server counter, a peer reading the guide service, a mutable search with state. */
export const MIXED_APP: ModuleSpec[] = [
  { name: 'ui', kind: 'client', source: `weft.on('message', () => {});` },
  {
    name: 'counter',
    kind: 'server',
    source: `let n = 0; let started = 0;
      weft.on('message', (b) => { if (b && b.started) started++; });
      weft.on('request', (b) => ({ n: ++n, echo: b, started }));
      export function snapshot() { return { n, started }; }
      export function restore(s) { n = s.n; started = s.started; }`,
  },
  {
    name: 'epg',
    kind: 'peer',
    uses: ['services.guide'],
    source: `weft.on('request', (b) => weft.services.request('guide', { op: 'search', q: b.q, limit: 2 }));`,
  },
  {
    name: 'search',
    kind: 'mutable',
    tier: 'fallback-1',
    needs: { memory: 2 * 1024 * 1024 },
    source: `let queries = [];
      weft.on('request', (b) => { queries.push(b.q); return { count: queries.length }; });
      export function snapshot() { return { queries }; }
      export function restore(s) { queries = s.queries; }`,
  },
];
