// A node that has not synced a new candidate yet (issue 15.6): a session pinned to a version its
// catalog does not know makes it sync its catalog once (coalesced, misses remembered a while), and
// the session is routed right after, to its own version's app-wide instance, never to another
// version's. Deterministic tier: two nodes sharing one registry and one release store, one manual
// clock; each node syncs only when told to (the 1 s timer of cli/headend.ts is not running, and
// the store's announcements, D103, are hidden from the nodes: the window before one arrives).
import test from 'ava';
import { ManualClock, RemoteError, type OpenReply, type ResourceReport } from '../../runtime/index.ts';
import { decodeManifest, trustedKeyFromJson } from '../../runtime/app/index.ts';
import { AppCatalog, type PublishedApp } from '../../headend/app-catalog.ts';
import { CatalogFill, MAX_MISSES, SYNCS_PER_S } from '../../headend/releases/catalog-fill.ts';
import { MemoryReleaseStore, Releases } from '../../headend/releases/index.ts';
import { startRollout, type RolloutLoop } from '../../headend/releases/rollout-start.ts';
import { MemoryCheckpoints } from '../../headend/portions/shared-app.ts';
import { signedApp } from '../_helpers/apps.ts';
import { memoryNode, memoryRegistry, type MemoryNode } from '../_helpers/headend.ts';
import { MemoryNet } from '../_helpers/memory-net.ts';
import { here, clockStepper } from '../_helpers/memory-tier.ts';
import { poll, pollBox, tally } from '../_helpers/poll-app.ts';

const INTERVAL = 1000;

/**
 * `placeOn`: where every node places the sessions it opens (default: where they are opened);
 * `reads`: counts n2's reads of session records; `ids`: the nodes (default n1, n2).
 */
async function cluster(placeOn?: string, reads?: { n: number }, ids = ['n1', 'n2']) {
  const a = await signedApp('poll', poll(`weft.on('request', (b) => b);`), '1.0.0');
  const b = await signedApp('poll', poll(`weft.on('request', (b) => b);\n// 1.0.1`), '1.0.1', a.key);
  const keys = await Promise.all(a.trusted.map((j) => trustedKeyFromJson(j)));
  const clock = new ManualClock();
  const net = new MemoryNet();
  const registry = memoryRegistry(clock);
  const store = new MemoryReleaseStore();
  // No `watch`: a node hears no announcement, as while one is on its way or was lost (D103).
  const unannounced = new Proxy(store, {
    get(target, p) {
      const v = p === 'watch' ? undefined : (Reflect.get(target, p, target) as unknown);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const checkpoints = new MemoryCheckpoints();
  const nodes: MemoryNode[] = [];
  const loops: RolloutLoop[] = [];
  const releases: Releases[] = [];
  for (const id of ids) {
    const counted = new Proxy(registry, {
      get(target, p) {
        if (p === 'getSession' && id === 'n2' && reads !== undefined) reads.n++;
        const v = Reflect.get(target, p, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const n = await memoryNode({ id, net, clock, registry: counted, apps: [a.pub], trusted: a.trusted, intervalMs: INTERVAL, policy: here(placeOn ?? id), modules: { tally }, appWide: { checkpoints } });
    const r = new Releases({ store, trusted: () => keys, now: () => clock.now() });
    loops.push(await startRollout({ releases: r, store: unannounced, carousels: new Map(), reports: { onReport: (_r: ResourceReport): void => {} }, now: () => clock.now(), catalog: n.catalog }));
    nodes.push(n);
    releases.push(r);
  }
  for (const n of nodes) await n.refreshPeers();
  const [r1] = releases as [Releases, ...Releases[]];
  const pub = (p: PublishedApp) => r1.publish({ manifestBytes: p.manifestBytes, signature: p.signature, sources: p.sources }, 'operator');
  await pub(a.pub);
  await r1.promote('poll', '1.0.0', { now: true });
  for (const l of loops) await l.sync?.sync();
  const { transport: boxT, open, vote } = pollBox(net, clock);
  const advance = clockStepper(clock, INTERVAL);
  /** Publish and promote 1.0.1 through n1: n1's catalog follows at once, n2's only at its next sync. */
  const rollOut = async (): Promise<void> => {
    await pub(b.pub);
    await r1.promote('poll', '1.0.1');
    await loops[0]?.sync?.sync();
  };
  const syncs = (i: number): number => loops[i]?.sync?.stats().syncs ?? 0;
  const close = async (): Promise<void> => {
    for (const n of nodes) await n.close();
    await boxT.close();
    await registry.close();
  };
  await advance(2 * INTERVAL);
  return { clock, net, registry, store, r1, nodes: nodes as [MemoryNode, MemoryNode, ...MemoryNode[]], loops, open, vote, rollOut, syncs, advance, close };
}

test('a node that has not synced the candidate yet routes a candidate session\'s request to the candidate\'s instance, never to live\'s', async (t) => {
  const c = await cluster();
  const [n1, n2] = c.nodes;
  try {
    const old = await c.open(n1, 'b-old', '1.0.0');
    t.deepEqual(await c.vote(n2, old, 2), { total: 2, version: '1.0.0' }, 'live, entered at n2');
    await c.rollOut();
    t.deepEqual(n2.catalog.versions('poll'), ['1.0.0'], 'n2 has not synced the candidate');
    const cand = await c.open(n1, 'b-new', '1.0.1');
    t.deepEqual(await c.vote(n2, cand, 5), { total: 5, version: '1.0.1' }, 'entered at n2: the candidate\'s own instance');
    t.deepEqual(await c.vote(n2, old, 1), { total: 3, version: '1.0.0' }, 'live\'s state untouched by the candidate\'s votes');
    t.true(n2.catalog.versions('poll').includes('1.0.1'), 'n2 synced on seeing it');
    t.is(n2.appWide.counters.unserved, 0);
  } finally {
    await c.close();
  }
});

test('while versions share one app-wide code a node reads a session\'s record once per change, and a switch to a version it has not synced is routed to that version', async (t) => {
  const reads = { n: 0 };
  const c = await cluster(undefined, reads);
  const [n1, n2] = c.nodes;
  try {
    const s = await c.open(n1, 'b-a', '1.0.0');
    const at = reads.n;
    for (let i = 1; i <= 5; i++) t.deepEqual(await c.vote(n2, s, 1), { total: i, version: '1.0.0' });
    t.is(reads.n - at, 1, 'one read for five requests');
    await c.rollOut();
    const s2 = await c.open(n1, 'b-a', '1.0.1', s.session); // n2 hears the change on the session feed
    t.deepEqual(await c.vote(n2, s2, 1), { total: 1, version: '1.0.1' }, 'read again, n2 synced, routed to the candidate');
    t.is(c.loops[1]?.fill?.stats().filled, 1);
  } finally {
    await c.close();
  }
});

test('an open of the candidate at a node that has not synced it is served after one sync, however many opens ask at once', async (t) => {
  const c = await cluster();
  const [n1, n2] = c.nodes;
  try {
    await c.rollOut();
    const before = c.syncs(1);
    const opened = await Promise.all(['b-1', 'b-2', 'b-3', 'b-4'].map((b) => c.open(n2, b, '1.0.1')));
    t.is(c.syncs(1) - before, 1, 'one sync for four opens');
    t.deepEqual(await c.vote(n2, opened[0] as OpenReply, 1), { total: 1, version: '1.0.1' });
    t.deepEqual(await c.vote(n1, opened[1] as OpenReply, 1), { total: 2, version: '1.0.1' }, 'the same instance from the other node');
  } finally {
    await c.close();
  }
});

test('a version still unknown after its sync is refused VERSION_MISMATCH, and does not make each open sync again until the miss is old', async (t) => {
  const c = await cluster();
  const [, n2] = c.nodes;
  try {
    const before = c.syncs(1);
    const refused = async (): Promise<void> => {
      const e = await t.throwsAsync(c.open(n2, 'b-x', '9.9.9'));
      t.true(e instanceof RemoteError && e.remoteCode === 18, String(e));
    };
    await refused();
    t.is(c.syncs(1) - before, 1, 'one sync for the unknown version');
    for (let i = 0; i < 5; i++) await refused();
    t.is(c.syncs(1) - before, 1, 'a remembered miss: no sync per open');
    await c.advance(10 * INTERVAL);
    await refused();
    t.is(c.syncs(1) - before, 2, 'asked again once the miss is old');
    t.is(n2.sessions.counters.mismatched, 7);
  } finally {
    await c.close();
  }
});

test('a survivor that has not synced the candidate re-places a candidate session on the candidate, not gives it up', async (t) => {
  const c = await cluster();
  const [n1, n2] = c.nodes;
  try {
    await c.rollOut();
    const cand = await c.open(n1, 'b-new', '1.0.1');
    t.deepEqual(await c.vote(n1, cand, 3), { total: 3, version: '1.0.1' });
    c.net.cut(n1.udpAddress);
    n1.statistics.stop();
    n1.timing.stop();
    for (let i = 0; i < 20 && n2.timing.isAlive('n1') !== false; i++) await c.advance(INTERVAL / 2);
    await c.advance(2 * INTERVAL);
    t.is(n2.sessions.counters.replaceMismatched, 0, 'not given up');
    t.is((await c.registry.getSession(cand.session))?.node, 'n2');
    t.is(n2.catalog.pinned(cand.session), '1.0.1');
    t.deepEqual(await c.vote(n2, cand, 1), { total: 4, version: '1.0.1' }, 'its requests reach the candidate, restored from its checkpoint');
  } finally {
    await c.close();
  }
});

test('a switch to the candidate reaching the session\'s node before that node synced it: the node syncs and switches, no VERSION_MISMATCH', async (t) => {
  const c = await cluster();
  const [n1, n2] = c.nodes;
  try {
    const s = await c.open(n2, 'b-a', '1.0.0');
    t.deepEqual(await c.vote(n2, s, 2), { total: 2, version: '1.0.0' });
    await c.rollOut();
    const s2 = await c.open(n1, 'b-a', '1.0.1', s.session); // portion.upgrade to n2, which does not know 1.0.1 yet
    t.is(s2.session, s.session, 'switched in place');
    t.is(n2.catalog.pinned(s.session), '1.0.1');
    t.deepEqual(await c.vote(n1, s2, 1), { total: 1, version: '1.0.1' });
  } finally {
    await c.close();
  }
});

test('a portion.start of the candidate at a node that has not synced it: that node syncs and runs it', async (t) => {
  const c = await cluster('n2');
  const [n1, n2] = c.nodes;
  try {
    await c.rollOut();
    const s = await c.open(n1, 'b-a', '1.0.1');
    t.is(s.node, 'n2', 'placed on n2');
    t.is(n2.catalog.pinned(s.session), '1.0.1');
    t.deepEqual(await c.vote(n2, s, 1), { total: 1, version: '1.0.1' });
  } finally {
    await c.close();
  }
});

test('a survivor that does not serve a withdrawn version even after its sync re-places the session on a live node that still serves it', async (t) => {
  const c = await cluster(undefined, undefined, ['n1', 'n2', 'n3']);
  const [n1, n2, n3] = c.nodes as [MemoryNode, MemoryNode, MemoryNode];
  try {
    await c.rollOut();
    for (const l of c.loops) await l.sync?.sync();
    const s1 = await c.open(n1, 'b-1', '1.0.1');
    const s3 = await c.open(n3, 'b-3', '1.0.1');
    await c.r1.rollback('poll', '1.0.1'); // the boxes go back over the carousel; until they do, n1 and n3 keep serving 1.0.1
    for (const l of c.loops) await l.sync?.sync();
    t.deepEqual(n2.catalog.versions('poll'), ['1.0.0'], 'n2 hosts no 1.0.1 session: it let the version go');
    t.true(n3.catalog.versions('poll').includes('1.0.1'));
    c.net.cut(n1.udpAddress);
    n1.statistics.stop();
    n1.timing.stop();
    for (let i = 0; i < 20 && n2.timing.isAlive('n1') !== false; i++) await c.advance(INTERVAL / 2);
    await c.advance(2 * INTERVAL);
    t.is(n2.sessions.counters.replaceMismatched, 0, 'not given up');
    t.is((await c.registry.getSession(s1.session))?.node, 'n3', 'placed where its version is still served');
    t.is(n3.catalog.pinned(s1.session), '1.0.1');
    const versions = [...n3.pool.instances.values()].filter((p) => p.session === s1.session).map((p) => decodeManifest(p.manifest).version);
    t.deepEqual(versions, ['1.0.1'], 'its server portion runs 1.0.1 on n3');
    t.is((await c.registry.getSession(s3.session))?.node, 'n3');
  } finally {
    await c.close();
  }
});

test('a request of a session on a withdrawn version entering a node that let the version go reaches that version\'s instance, not unserved', async (t) => {
  const c = await cluster();
  const [n1, n2] = c.nodes;
  try {
    const old = await c.open(n1, 'b-old', '1.0.0');
    t.deepEqual(await c.vote(n1, old, 2), { total: 2, version: '1.0.0' });
    await c.rollOut();
    await c.r1.promote('poll', '1.0.1', { now: true }); // 1.0.0 retired; its box switches when its carousel says so
    for (const l of c.loops) await l.sync?.sync();
    t.deepEqual(n2.catalog.versions('poll'), ['1.0.1'], 'n2 hosts no 1.0.0 session: it let the version go');
    t.deepEqual(await c.vote(n2, old, 1), { total: 3, version: '1.0.0' }, 'entered at n2: 1.0.0\'s instance on n1');
    t.deepEqual(await c.vote(n2, old, 1), { total: 4, version: '1.0.0' });
    t.is(n2.appWide.counters.unserved, 0);
    t.like(c.loops[1]?.fill?.stats(), { withdrawn: 1, syncs: 1 }, 'its bytes read once, one sync');
    await t.throwsAsync(c.open(n2, 'b-late', '1.0.0'), { message: /not served here/ }, 'an open of the withdrawn version is still refused');
    t.deepEqual(n2.catalog.versions('poll'), ['1.0.1'], 'n2 still does not serve it (no open of 1.0.0 is served there)');
  } finally {
    await c.close();
  }
});

test('CatalogFill: a flood of made-up versions syncs at most SYNCS_PER_S times a second, and remembers at most MAX_MISSES', async (t) => {
  const a = await signedApp('poll', poll(`weft.on('request', (b) => b);`), '1.0.0');
  const catalog = new AppCatalog();
  catalog.add(a.pub);
  let now = 0;
  let syncs = 0;
  const fill = new CatalogFill({ catalog, sync: () => Promise.resolve(void syncs++), now: () => now });
  catalog.onMissing(fill.want);
  for (let i = 0; i < 20; i++) t.is(await catalog.resolve('poll', `9.0.${i}`), undefined);
  t.is(syncs, SYNCS_PER_S, 'the rest refused with no sync');
  t.is(fill.stats().limited, 20 - SYNCS_PER_S);
  t.is(await catalog.resolve('nope', '1.0.0'), undefined, 'an app not served here is never synced for');
  t.is(await catalog.resolve('poll', 'x'.repeat(65)), undefined);
  t.is(syncs, SYNCS_PER_S);
  now = 1001;
  t.is(await catalog.resolve('poll', '1.0.0'), a.pub, 'a served version asks nothing');
  for (let i = 0; i < MAX_MISSES + 10; i++) {
    now += 1000;
    await catalog.resolve('poll', `8.0.${i}`);
  }
  t.is(fill.stats().missed, SYNCS_PER_S + MAX_MISSES + 10);
  t.is(await catalog.resolve('poll', `8.0.${MAX_MISSES + 9}`), undefined);
  t.is(fill.stats().remembered, 1, 'the newest miss is remembered');
  const before = syncs;
  now += 1000;
  await catalog.resolve('poll', '8.0.0');
  t.is(syncs, before + 1, 'the oldest was forgotten: asked again');
});

test('CatalogFill: a withdrawn version is read once as published and never added to the catalog; one not in the store, or not a manifest, is undefined, asked again only once the miss is old', async (t) => {
  const a = await signedApp('poll', poll(`weft.on('request', (b) => b);`), '1.0.0');
  const old = await signedApp('poll', poll(`// old`), '0.9.0', a.key);
  const catalog = new AppCatalog();
  catalog.add(a.pub);
  let now = 0;
  const reads: string[] = [];
  const release = (p: PublishedApp, manifestBytes = p.manifestBytes) => ({ app: 'poll', version: p.manifest.version, manifestBytes, signature: p.signature, sources: p.sources, state: 'retired' as const, publishedBy: 'operator', publishedAt: 1, plan: '', rev: 2 });
  const get = (_app: string, v: string) => {
    reads.push(v);
    return Promise.resolve(v === '0.9.0' ? release(old.pub) : v === '0.8.0' ? release(old.pub, Uint8Array.of(1, 2, 3)) : undefined);
  };
  const fill = new CatalogFill({ catalog, sync: () => Promise.resolve(), now: () => now, get });
  catalog.onMissing(fill.want);
  t.is(await catalog.resolve('poll', '0.9.0'), undefined, 'not for an open or a start');
  t.is((await catalog.resolve('poll', '0.9.0', true))?.manifest.version, '0.9.0');
  t.is((await catalog.resolve('poll', '0.9.0', true))?.manifest.version, '0.9.0');
  t.deepEqual(catalog.versions('poll'), ['1.0.0'], 'not added');
  t.is(await catalog.resolve('poll', '0.8.0', true), undefined, 'not a manifest: undefined, no throw');
  t.is(await catalog.resolve('poll', '0.7.0', true), undefined);
  t.is(await catalog.resolve('poll', '0.7.0', true), undefined);
  t.deepEqual(reads, ['0.9.0', '0.8.0', '0.7.0'], 'each read once');
  now += 10_000;
  t.is(await catalog.resolve('poll', '0.7.0', true), undefined);
  t.deepEqual(reads.length, 4, 'asked again once the miss is old');
  t.is(fill.stats().withdrawn, 1);
});
