// [D99] The last switch id a host applied goes with the session record, so a session re-placed
// between a box's switch and an older one still on the wire keeps the box's order on its new host:
// the older switch reaching the new host is refused VERSION_MISMATCH (`superseded`), and the session
// stays on the version the box runs. Before D99 the id lived only in the old host's memory, and the
// new host applied the older switch: the session ended pinned to the version the box had left.
import test from 'ava';
import { Codes, RemoteError, type Envelope, type UdpAddress } from '../../runtime/index.ts';
import type { MemoryNode } from '../_helpers/headend.ts';
import { rig, twoVersions } from '../_helpers/versions.ts';

type Rig = Awaited<ReturnType<typeof rig>>;

/** Let queued work run, then move the manual clock a quarter beat at a time until `done`. */
async function advanceUntil(r: Rig, done: () => boolean, maxMs = 20_000): Promise<void> {
  for (let left = maxMs; left > 0 && !done(); left -= 250) {
    r.clock.advance(250);
    await new Promise((go) => setImmediate(go));
  }
}

/** Holds the next `session.open` sent to `to` on the wire until `release()` (it keeps its envelope id). */
function holdOpenTo(r: Rig, to: UdpAddress): { held: Promise<void>; release: () => Promise<void> } {
  const route = r.net.route.bind(r.net);
  let kept: { from: UdpAddress; env: Envelope } | undefined;
  let heldNow!: () => void;
  const held = new Promise<void>((go) => (heldNow = go));
  r.net.route = (from, env) => {
    if (kept !== undefined || env.op !== 'session.open' || env.dst.udp?.port !== to.port) return route(from, env);
    kept = { from, env };
    heldNow();
    return Promise.resolve();
  };
  return { held, release: () => (kept === undefined ? Promise.resolve() : route(kept.from, kept.env)) };
}

test('a session re-placed after a switch: an older switch reaching its new host is refused as superseded', async (t) => {
  const { v100, v101, trusted } = await twoVersions();
  const r = await rig([v100], trusted, ['n1', 'n2'], 'n1'); // hosted on n1; on n2 once n1 is gone
  const [n1, n2] = r.nodes as [MemoryNode, MemoryNode];
  for (const n of r.nodes) n.catalog.add(v101, { current: false });
  try {
    await advanceUntil(r, () => r.nodes.every((n) => n.statistics.clusterView().nodes.length === 2));
    const s = await r.open(n1, 'b1', '1.0.0');
    await r.ask(n1, s);
    const hold = holdOpenTo(r, n2.udpAddress);
    const forward = r.open(n2, 'b1', '1.0.1', s.session); // sent first, slow on the wire
    await hold.held;
    t.is((await r.open(n1, 'b1', '1.0.0', s.session)).session, s.session, 'the box went back: applied on n1');
    t.is(typeof (await r.registry.getSession(s.session))?.switchId, 'number', 'the record carries the last switch id');
    r.net.cut(n1.udpAddress); // n1 dies; n2 re-places the session on the version its record keeps
    n1.statistics.stop();
    n1.timing.stop();
    await advanceUntil(r, () => n2.sessions.counters.replaced === 1);
    t.is((await r.registry.getSession(s.session))?.node, 'n2');
    await hold.release();
    const late = await forward.then(
      () => undefined,
      (e: unknown) => e,
    );
    t.true(late instanceof RemoteError && late.remoteCode === Codes.VERSION_MISMATCH, `the left version's open: ${String(late)}`);
    t.is(((late as RemoteError | undefined)?.data as { superseded?: unknown } | undefined)?.superseded, true);
    t.is(n2.sessions.switches.stats.superseded, 1, 'counted on the new host');
    t.is(n2.catalog.pinned(s.session), '1.0.0', 'the new host pins the version the box runs');
    t.is((await r.registry.getSession(s.session))?.appVersion, '1.0.0');
    t.is((await r.ask(n2, s)).version, '1.0.0', 'the instance runs the code of the version the box runs');
  } finally {
    await r.close();
  }
});

test('the host cannot read the record\'s last id (the registry failed): ordered by its memory alone, counted, the switch applied and recorded', async (t) => {
  const { v100, v101, trusted } = await twoVersions();
  const r = await rig([v100], trusted, ['n1', 'n2'], 'n1');
  const [n1, n2] = r.nodes as [MemoryNode, MemoryNode];
  for (const n of r.nodes) n.catalog.add(v101, { current: false });
  const sw = n1.sessions.switches;
  const control = sw.control.bind(sw);
  const get = r.registry.getSession.bind(r.registry);
  let failNext = false;
  sw.control = (body: unknown) => ((failNext = true), control(body)); // the host's first read of the record fails
  r.registry.getSession = (id: string) => (failNext ? ((failNext = false), Promise.reject(new Error('registry down'))) : get(id));
  try {
    const s = await r.open(n1, 'b1', '1.0.0');
    const forward = await r.open(n2, 'b1', '1.0.1', s.session);
    t.is(forward.session, s.session, 'switched in place');
    t.is(sw.stats.orderUnread, 1, 'counted on the host');
    t.is(sw.stats.unrecorded, 0, 'the write read the record again');
    const rec = await r.registry.getSession(s.session);
    t.is(rec?.appVersion, '1.0.1');
    t.is(typeof rec?.switchId, 'number', 'and wrote the id with the version');
    t.deepEqual(await r.ask(n1, s), { n: 1, version: '1.0.1' });
  } finally {
    await r.close();
  }
});

test('a session migrated by a drain after a switch: an older switch reaching its new host is refused as superseded', async (t) => {
  const { v100, v101, trusted } = await twoVersions();
  const r = await rig([v100], trusted, ['n1', 'n2'], 'n1');
  const [n1, n2] = r.nodes as [MemoryNode, MemoryNode];
  for (const n of r.nodes) n.catalog.add(v101, { current: false });
  try {
    await advanceUntil(r, () => r.nodes.every((n) => n.statistics.clusterView().nodes.length === 2));
    const s = await r.open(n1, 'b1', '1.0.0');
    await r.ask(n1, s);
    const hold = holdOpenTo(r, n2.udpAddress);
    const forward = r.open(n2, 'b1', '1.0.1', s.session);
    await hold.held;
    await r.open(n1, 'b1', '1.0.0', s.session); // the box went back: applied on n1
    let drained = false;
    void n1.drainer.start({ ratePerS: 100 }).finally(() => (drained = true));
    await advanceUntil(r, () => drained);
    t.is((await r.registry.getSession(s.session))?.node, 'n2', 'migrated with its state');
    await hold.release();
    const late = await forward.then(
      () => undefined,
      (e: unknown) => e,
    );
    t.true(late instanceof RemoteError && late.remoteCode === Codes.VERSION_MISMATCH, `the left version's open: ${String(late)}`);
    t.is(n2.sessions.switches.stats.superseded, 1);
    t.is(n2.catalog.pinned(s.session), '1.0.0');
    t.deepEqual(await r.ask(n2, s), { n: 2, version: '1.0.0' }, 'the state moved, the version the box runs');
  } finally {
    await r.close();
  }
});
