// [D99] The last switch id a host applied goes with the session record, so a session re-placed
// between a box's switch and an older one still on the wire keeps the box's order on its new host:
// the older switch reaching the new host is refused VERSION_MISMATCH (`superseded`), and the session
// stays on the version the box runs. Before D99 the id lived only in the old host's memory, and the
// new host applied the older switch: the session ended pinned to the version the box had left.
import test, { type ExecutionContext } from 'ava';
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

/**
 * Two nodes sharing one registry, the session hosted on n1: the box's forward switch to 1.0.1 sent
 * through n2 and held on the wire (it keeps its older envelope id), then the box's revert to
 * 1.0.0 applied on n1, so the record carries the revert's id.
 */
async function switchedBack(t: ExecutionContext) {
  const { v100, v101, trusted } = await twoVersions();
  const r = await rig([v100], trusted, ['n1', 'n2'], 'n1');
  const [n1, n2] = r.nodes as [MemoryNode, MemoryNode];
  try {
    for (const n of r.nodes) n.catalog.add(v101, { current: false });
    await advanceUntil(r, () => r.nodes.every((n) => n.statistics.clusterView().nodes.length === 2));
    const s = await r.open(n1, 'b1', '1.0.0');
    await r.ask(n1, s);
    const hold = holdOpenTo(r, n2.udpAddress);
    const forward = r.open(n2, 'b1', '1.0.1', s.session); // sent first, slow on the wire
    forward.catch(() => undefined); // judged by refusedOnNewHost; never an unhandled rejection meanwhile
    await hold.held;
    t.is((await r.open(n1, 'b1', '1.0.0', s.session)).session, s.session, 'the box went back: applied on n1');
    t.is(typeof (await r.registry.getSession(s.session))?.switchId, 'number', 'the record carries the last switch id');
    return { r, n1, n2, s, hold, forward };
  } catch (e) {
    await r.close();
    throw e;
  }
}

/** The held forward switch reaches n2, the session's host now: refused as superseded, counted, the session on 1.0.0. */
async function refusedOnNewHost(t: ExecutionContext, r: Rig, n2: MemoryNode, session: string, hold: { release(): Promise<void> }, forward: Promise<unknown>): Promise<void> {
  await hold.release();
  const late = await forward.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.true(late instanceof RemoteError && late.remoteCode === Codes.VERSION_MISMATCH, `the left version's open: ${String(late)}`);
  t.is(((late as RemoteError | undefined)?.data as { superseded?: unknown } | undefined)?.superseded, true);
  t.is(n2.sessions.switches.stats.superseded, 1, 'counted on the new host');
  t.is(n2.catalog.pinned(session), '1.0.0', 'the new host pins the version the box runs');
  t.is((await r.registry.getSession(session))?.appVersion, '1.0.0');
}

test('a session re-placed after a switch: an older switch reaching its new host is refused as superseded', async (t) => {
  const { r, n1, n2, s, hold, forward } = await switchedBack(t); // hosted on n1; on n2 once n1 is gone
  try {
    r.net.cut(n1.udpAddress); // n1 dies; n2 re-places the session on the version its record keeps
    n1.statistics.stop();
    n1.timing.stop();
    await advanceUntil(r, () => n2.sessions.counters.replaced === 1);
    t.is((await r.registry.getSession(s.session))?.node, 'n2');
    await refusedOnNewHost(t, r, n2, s.session, hold, forward);
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
  const { r, n1, n2, s, hold, forward } = await switchedBack(t);
  try {
    let drained = false;
    void n1.drainer.start({ ratePerS: 100 }).finally(() => (drained = true));
    await advanceUntil(r, () => drained);
    t.is((await r.registry.getSession(s.session))?.node, 'n2', 'migrated with its state');
    await refusedOnNewHost(t, r, n2, s.session, hold, forward);
    t.deepEqual(await r.ask(n2, s), { n: 2, version: '1.0.0' }, 'the state moved, the version the box runs');
  } finally {
    await r.close();
  }
});
