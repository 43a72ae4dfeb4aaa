// [D57, D86, D89] The box keeps its session across a version switch only when the head-end will
// re-pin it. Both sides are fed the same manifest pairs: the box's rule (loader/session-keep.ts
// `keepSession`, on a recording switch) and the head-end's (headend/session-switch.ts `open`
// through node/version-upgrade.ts, on in-memory hosts). They agree on every pair but where the box
// cannot see what the head-end sees (a mutable module placed on the box, app-wide code, which the
// head-end routes by version): there the box waits and the head-end re-pins, never the reverse.
import test from 'ava';
import type { Manifest, ModuleEntry } from '../../runtime/app/index.ts';
import { placeModules } from '../../runtime/app/index.ts';
import type { OpenReply, OpenRequest, Result } from '../../runtime/index.ts';
import { keepSession } from '../../loader/session-keep.ts';
import type { BoxSwitch } from '../../loader/switch.ts';
import { SessionSwitch, type SwitchHost } from '../../headend/session-switch.ts';
import { upgradeSession, type UpgradeHost, type UpgradeStats } from '../../headend/node/version-upgrade.ts';
import type { PublishedApp } from '../../headend/app-catalog.ts';
import type { SessionRecord } from '../../headend/registry/registry.ts';
import type { PortionSpec } from '../../headend/portions/portion-protocol.ts';

const sha = (c: string): string => c.repeat(64);
const entry = (name: string, kind: ModuleEntry['kind'], c: string, more: Partial<ModuleEntry> = {}): ModuleEntry => ({ name, kind, tier: 'boot', file: `${name}.js`, sha256: sha(c), size: 100, uses: [], needs: {}, ...more });
const base = (): Manifest => ({
  app: 'guide',
  version: '1.0.0',
  modules: [entry('ui', 'client', 'a'), entry('search', 'mutable', 'b', { needs: { memory: 65_536 } }), entry('server', 'server', 'c'), entry('wide', 'server', 'd', { scope: 'app' })],
});
const BIG = { freeMemoryBytes: 64 << 20, storageFreeBytes: 64 << 20, cpuClass: 'high' }; // search placed on the box
const SMALL = { freeMemoryBytes: 1024, storageFreeBytes: 64 << 20, cpuClass: 'high' }; // search on the head-end

/** The next version: `change` applied to a copy of 1.0.0. */
function next(change: (m: Manifest) => void): Manifest {
  const m = structuredClone(base());
  m.version = '1.0.1';
  change(m);
  return m;
}
const mod = (m: Manifest, name: string): ModuleEntry => m.modules.find((e) => e.name === name) as ModuleEntry;

/** The session 1.0.0 opened with this report: its placements, as the head-end recorded and the box heard them. */
function opened(from: Manifest, report: typeof BIG) {
  const wide = from.modules.filter((e) => e.scope === 'app').map((e) => e.name);
  const placed = placeModules(from, { memory: report.freeMemoryBytes, storage: report.storageFreeBytes, cpu: report.cpuClass as 'high' }).filter((p) => !wide.includes(p.module));
  const reply: OpenReply = { session: 's1', node: 'n1', dasp: 'weft://guide/s1/server', modules: placed.map((p) => ({ module: p.module, side: p.side, vaddr: `weft://guide/s1/${p.module}` })), download: [], reportEveryMs: 5000 };
  const rec: SessionRecord = { id: 's1', app: 'guide', box: 'b1', node: 'n1', placements: Object.fromEntries(placed.map((p) => [p.module, p.side])), appVersion: from.version, createdAt: 0, updatedAt: 0, version: 1 };
  return { reply, rec, running: placed.filter((p) => p.side === 'headend').map((p) => p.module) };
}

function boxKeeps(from: Manifest, to: Manifest, old: OpenReply): boolean {
  const sw = { hold: () => undefined, setSession: () => undefined, where: () => 'absent' } as unknown as BoxSwitch;
  return keepSession(sw, from, to, old) !== undefined;
}

/** The head-end continues the session with nothing restarted (a re-pin, D57). */
async function headendRepins(from: Manifest, to: Manifest, report: typeof BIG): Promise<boolean> {
  const { rec, running } = opened(from, report);
  const apps = new Map([from, to].map((m) => [m.version, { manifest: m } as PublishedApp]));
  const pins = new Map([['s1', from.version]]);
  const catalog = { get: (_a: string, v?: string) => apps.get(v ?? ''), resolve: (_a: string, v: string) => apps.get(v), pin: (s: string, _a: string, v: string) => void pins.set(s, v), unpin: (s: string) => void pins.delete(s), pinned: (s: string) => pins.get(s) };
  const stats: UpgradeStats = { upgraded: 0, failed: 0, already: 0, repinned: 0 };
  const up: UpgradeHost = {
    id: 'n1',
    portions: { spec: () => ({ app: 'guide', modules: running }) as unknown as PortionSpec, inflightOf: () => 0, snapshot: async () => ({ ok: true, value: {} }), ofSession: () => ['i1'] },
    catalog: catalog as unknown as UpgradeHost['catalog'],
    table: { hosted: () => [], hosts: () => true } as unknown as UpgradeHost['table'],
    hold: () => () => undefined,
    startHere: async (): Promise<Result<string, Error>> => ({ ok: true, value: 'i2' }),
    stopPortion: async () => undefined,
    idle: async () => undefined,
  };
  const host = {
    id: 'n1',
    registry: { getSession: async () => rec, updateSession: async () => ({ ok: true, value: rec }) },
    catalog,
    boxes: { set: () => undefined },
    peerUdp: () => undefined,
    request: async () => ({}),
    upgradeSession: (session: string, version: string, modules?: string[]) => upgradeSession(up, { session, version, ...(modules === undefined ? {} : { modules }) }, 0, stats),
  } as unknown as SwitchHost;
  const req = { app: 'guide', version: to.version, boxId: 'b1', report: report as unknown as OpenRequest['report'], previous: 's1' };
  const r = await new SessionSwitch(host).open(req, apps.get(to.version) as PublishedApp, async () => undefined);
  return r?.session === 's1' && stats.upgraded === 0 && stats.failed === 0;
}

const pairs: [string, (m: Manifest) => void, typeof BIG, { box: boolean; headend: boolean }][] = [
  ['the same head-end code', () => undefined, BIG, { box: true, headend: true }],
  ["the server module's needs", (m) => (mod(m, 'server').needs = { memory: 4096, cpu: 'high' }), BIG, { box: true, headend: true }],
  ["the server module's tier, file, size and uses", (m) => Object.assign(mod(m, 'server'), { tier: 'fallback-1', file: 'srv.js', size: 7, uses: ['storage'] }), SMALL, { box: true, headend: true }],
  ["the server module's critical and durability", (m) => Object.assign(mod(m, 'server'), { critical: { guard: 'session', permits: 1 }, durability: 'sync' }), BIG, { box: true, headend: true }],
  ["a client module's bytes", (m) => (mod(m, 'ui').sha256 = sha('e')), BIG, { box: true, headend: true }],
  ["the server module's bytes", (m) => (mod(m, 'server').sha256 = sha('e')), BIG, { box: false, headend: false }],
  ['a server module added', (m) => m.modules.push(entry('extra', 'server', 'f')), BIG, { box: false, headend: false }],
  ['a module run on the head-end removed', (m) => (m.modules = m.modules.filter((e) => e.name !== 'server')), SMALL, { box: false, headend: false }],
  ["the bytes of a mutable module the session placed on the head-end", (m) => (mod(m, 'search').sha256 = sha('e')), SMALL, { box: false, headend: false }],
  ['a module becomes app-wide', (m) => (mod(m, 'server').scope = 'app'), SMALL, { box: false, headend: false }],
  // The box is stricter than the head-end (it waits; the head-end re-pins):
  ["the bytes of a mutable module the session placed on the box", (m) => (mod(m, 'search').sha256 = sha('e')), BIG, { box: false, headend: true }],
  ['app-wide code (routed by the session\'s version, so the early requests would reach the old code)', (m) => (mod(m, 'wide').sha256 = sha('e')), BIG, { box: false, headend: true }],
];

for (const [what, change, report, want] of pairs) {
  test(`a pair differing in ${what}: box keeps ${want.box}, head-end re-pins ${want.headend}`, async (t) => {
    const from = base();
    const to = next(change);
    const { reply } = opened(from, report);
    const box = boxKeeps(from, to, reply);
    const headend = await headendRepins(from, to, report);
    t.deepEqual({ box, headend }, want);
    t.true(!box || headend, 'the box never keeps a session the head-end does not re-pin');
  });
}

test('a session with no module on the head-end is not kept (another node would open it afresh)', (t) => {
  const from: Manifest = { app: 'guide', version: '1.0.0', modules: [entry('ui', 'client', 'a'), entry('search', 'mutable', 'b')] };
  const to = { ...structuredClone(from), version: '1.0.1' };
  t.false(boxKeeps(from, to, opened(from, BIG).reply));
});
