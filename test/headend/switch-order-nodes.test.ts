// [D96] A shared ingress (MQTT shared subscriptions, broadcast) may hand a box's forward switch to
// one node and the revert right behind it to another. The node that hosts the session applies
// switches in the box's order (the open's envelope ids, one counter per box): an older switch that
// reaches it after a newer one is refused VERSION_MISMATCH (`superseded`), so the session ends on
// the version the box runs, never on the one it left.
import test from 'ava';
import { Codes, RemoteError, type OpenReply } from '../../runtime/index.ts';
import type { MemoryNode } from '../_helpers/headend.ts';
import { rig, twoVersions } from '../_helpers/versions.ts';

type Rig = Awaited<ReturnType<typeof rig>>;

/** Holds `node`'s `portion.upgrade` requests until `release()` (the forward switch is slow on the wire). */
function holdUpgrades(node: MemoryNode): { held: Promise<void>; release: () => void } {
  const send = node.request.bind(node);
  let release!: () => void;
  let heldNow!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const held = new Promise<void>((r) => (heldNow = r));
  node.request = (dst, body, op, ms) => {
    if (op !== 'portion.upgrade') return send(dst, body, op, ms);
    heldNow();
    return gate.then(() => send(dst, body, op, ms));
  };
  return { held, release };
}

async function twoNodes(): Promise<{ r: Rig; n1: MemoryNode; n2: MemoryNode; s: OpenReply }> {
  const { v100, v101, trusted } = await twoVersions(); // other head-end code: the forward switch upgrades the instance
  const r = await rig([v100], trusted, ['n1', 'n2'], 'n1'); // every session is hosted on n1
  const [n1, n2] = r.nodes as [MemoryNode, MemoryNode];
  for (const n of r.nodes) n.catalog.add(v101, { current: false });
  const s = await r.open(n1, 'b1', '1.0.0');
  await r.ask(n1, s);
  return { r, n1, n2, s };
}

async function endsOnRevert(t: import('ava').ExecutionContext, r: Rig, n1: MemoryNode, s: OpenReply): Promise<void> {
  t.is(n1.catalog.pinned(s.session), '1.0.0', 'the host pins the version the box runs');
  t.is((await r.registry.getSession(s.session))?.appVersion, '1.0.0', 'a survivor re-placing it starts the version the box runs');
  t.deepEqual(await r.ask(n1, s), { n: 2, version: '1.0.0' }, 'the instance runs the code of the version the box runs, state carried');
}

test('the forward switch through another node reaches the host after the revert: refused as superseded, the session stays on the revert', async (t) => {
  const { r, n1, n2, s } = await twoNodes();
  try {
    const hold = holdUpgrades(n2);
    const forward = r.open(n2, 'b1', '1.0.1', s.session);
    await hold.held; // n2 took the forward switch and its upgrade is on the wire
    const back = await r.open(n1, 'b1', '1.0.0', s.session); // sent after it, applied first
    t.is(back.session, s.session, 'one session throughout');
    hold.release();
    const late = await forward.then(
      () => undefined,
      (e: unknown) => e,
    );
    await endsOnRevert(t, r, n1, s);
    t.true(late instanceof RemoteError && late.remoteCode === Codes.VERSION_MISMATCH, 'the left version\'s open is answered with a clear code');
    t.is(((late as RemoteError).data as { superseded?: unknown } | undefined)?.superseded, true);
    t.is(n1.sessions.switches.stats.superseded, 1, 'counted on the host');
    t.is(n2.sessions.switches.stats.failed, 0, 'not taken for a failed switch: the session was not ended');
  } finally {
    await r.close();
  }
});

test('the forward switch through another node reaches the host first: both apply, in the box\'s order', async (t) => {
  const { r, n1, n2, s } = await twoNodes();
  try {
    const forward = await r.open(n2, 'b1', '1.0.1', s.session);
    t.is(forward.session, s.session);
    const back = await r.open(n1, 'b1', '1.0.0', s.session);
    t.is(back.session, s.session);
    await endsOnRevert(t, r, n1, s);
    t.is(n1.sessions.switches.stats.superseded, 0);
  } finally {
    await r.close();
  }
});

test('a host of the release before D96 refuses the order: the switch goes again without it and the ingress records it', async (t) => {
  const { r, n1, n2, s } = await twoNodes();
  const sw = n1.sessions.switches;
  const control = sw.control.bind(sw);
  let refused = 0;
  // That release's check of the body: no field but session, version and modules.
  sw.control = (body: unknown) => ('id' in (body as object) ? (refused++, Promise.reject(new RemoteError(Codes.BAD_REQUEST, 'portion.upgrade: unknown field "id"'))) : control(body));
  try {
    const forward = await r.open(n2, 'b1', '1.0.1', s.session);
    t.is(forward.session, s.session, 'switched in place, not ended');
    t.is(refused, 1);
    t.is(n2.sessions.switches.stats.olderHost, 1);
    t.is(n2.sessions.switches.stats.failed, 0);
    t.is((await r.registry.getSession(s.session))?.appVersion, '1.0.1');
    t.deepEqual(await r.ask(n1, s), { n: 2, version: '1.0.1' });
  } finally {
    await r.close();
  }
});

test('the registry fails the host\'s record write after the upgrade: counted unrecorded, the switch answered, the session kept', async (t) => {
  const { r, n1, n2, s } = await twoNodes();
  const update = r.registry.updateSession.bind(r.registry);
  let failures = 0;
  r.registry.updateSession = (...args: Parameters<typeof update>) => (failures++ === 0 ? Promise.reject(new Error('registry down')) : update(...args));
  try {
    const forward = await r.open(n2, 'b1', '1.0.1', s.session);
    t.is(forward.session, s.session, 'switched in place, not ended');
    t.is(failures, 1);
    t.is(n1.sessions.switches.stats.unrecorded, 1, 'counted on the host');
    t.is(n2.sessions.switches.stats.failed, 0);
    t.is(n1.catalog.pinned(s.session), '1.0.1');
    t.deepEqual(await r.ask(n1, s), { n: 2, version: '1.0.1' });
  } finally {
    await r.close();
  }
});
