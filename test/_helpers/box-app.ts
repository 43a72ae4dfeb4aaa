// A small program-guide app for box tests, signed with a throwaway key: a client UI (boot tier),
// a mutable search with state (fallback-1), client listings (fallback-2), a server portion. Gives
// the carousel module set, the published form for a head-end, and the trusted key.

import { type ModuleSet, makeModule } from '../../carousel/index.ts';
import {
  type Manifest,
  type ModuleEntry,
  type SigningKey,
  type TrustedKey,
  encodeManifest,
  generateSigningKey,
  sha256Hex,
  signManifest,
  trustedKey,
  utf8,
} from '../../runtime/app/index.ts';

export const UI = (version: string): string => `
const VERSION = ${JSON.stringify(version)};
weft.on('start', () => weft.ui.show({ screen: 'home', version: VERSION }));
weft.on('key', async (key) => {
  try {
    if (key === 'search') {
      const r = await weft.request(weft.address('search'), { q: 'news' });
      weft.ui.show({ screen: 'results', version: VERSION, count: r.count, hits: r.hits });
    } else if (key === 'now') {
      const r = await weft.request(weft.address('server'), { op: 'now' });
      weft.ui.show({ screen: 'now', version: VERSION, title: r.title, n: r.n });
    } else if (key === 'listings') {
      const r = await weft.request(weft.address('listings'), {});
      weft.ui.show({ screen: 'listings', version: VERSION, listings: r.listings });
    }
  } catch (e) {
    weft.ui.show({ screen: 'error', version: VERSION, key, code: e.code, message: String(e.message) });
  }
});
weft.on('request', () => ({ module: 'ui', version: VERSION }));
`;

export const SEARCH = `
const TITLES = ['News at Ten', 'Nature Hour', 'Cup Final', 'Late News', 'Weather'];
let count = 0;
weft.on('request', (b) => {
  count++;
  const q = String((b && b.q) || '').toLowerCase();
  return { count, hits: TITLES.filter((t) => t.toLowerCase().includes(q)) };
});
export function snapshot() { return { count }; }
export function restore(s) { count = s.count; }
`;

export const LISTINGS = `weft.on('request', () => ({ listings: ['18:00 News at Ten', '19:00 Nature Hour'] }));`;

export const SERVER = `
let started = null;
let n = 0;
weft.on('message', (b) => { if (b && b.session) started = b; });
weft.on('request', () => { n++; return { title: 'News at Ten', n, started }; });
`;

export interface AppOptions {
  version?: string;
  /** Memory the search module needs on a box: above a profile's free memory it is placed on the head-end [c5]. */
  searchMemory?: number;
  /** Replace the carousel bytes of a module (the manifest still names the genuine ones). */
  tamper?: Record<string, string>;
  /** Bytes of comment added to the UI module, so its acquisition spans many datagrams. */
  uiPadding?: number;
  /** Replace the UI module's source (signed as the genuine one). */
  uiSource?: string;
  /** Replace the server portion's source: another version's head-end code (signed as the genuine one). */
  serverSource?: string;
  /** The server module's `needs` in the manifest (a field the head-end's re-pin rule does not compare). */
  serverNeeds?: ModuleEntry['needs'];
}

export interface BuiltApp {
  manifest: Manifest;
  manifestBytes: Uint8Array;
  signature: Uint8Array;
  sources: Record<string, Uint8Array>;
  /** What goes on the carousel: the signed manifest and the client and mutable modules. */
  set: ModuleSet;
}

export interface Signer {
  key: SigningKey;
  trusted: TrustedKey[];
}

export async function signer(): Promise<Signer> {
  const { key } = await generateSigningKey();
  return { key, trusted: [await trustedKey(key.publicKey)] };
}

export async function guideApp(s: Signer, o: AppOptions = {}): Promise<BuiltApp> {
  const version = o.version ?? '1.0.0';
  const specs: [string, ModuleEntry['kind'], ModuleEntry['tier'], string, ModuleEntry['uses'], ModuleEntry['needs']][] = [
    ['ui', 'client', 'boot', (o.uiSource ?? UI(version)) + (o.uiPadding ? `/*${'.'.repeat(o.uiPadding)}*/\n` : ''), ['ui', 'storage'], {}],
    ['search', 'mutable', 'fallback-1', SEARCH, [], { memory: o.searchMemory ?? 64 * 1024 }],
    ['listings', 'client', 'fallback-2', LISTINGS, [], {}],
    ['server', 'server', 'boot', o.serverSource ?? SERVER, [], o.serverNeeds ?? {}],
  ];
  const sources: Record<string, Uint8Array> = {};
  const modules: ModuleEntry[] = [];
  for (const [name, kind, tier, source, uses, needs] of specs) {
    const b = utf8(source);
    sources[name] = b;
    modules.push({ name, kind, tier, file: `${name}.js`, sha256: await sha256Hex(b), size: b.length, uses, needs });
  }
  const manifest: Manifest = { app: 'guide', version, modules };
  const manifestBytes = encodeManifest(manifest);
  const signature = await signManifest(manifestBytes, s.key);
  const onAir = modules.filter((m) => m.kind === 'client' || m.kind === 'mutable');
  const set: ModuleSet = {
    appId: 'guide',
    version,
    modules: [
      makeModule('manifest.json', 'manifest', 'boot', manifestBytes),
      makeModule('manifest.sig', 'signature', 'boot', signature),
      ...onAir.map((m) => makeModule(m.name, m.kind, m.tier, o.tamper?.[m.name] === undefined ? (sources[m.name] as Uint8Array) : utf8(o.tamper[m.name] as string))),
    ],
  };
  return { manifest, manifestBytes, signature, sources, set };
}
