// docs/SECURITY.md rows "no relaying" and "queue ids": a node sends requests and messages over
// UDP only to registered nodes (issue 12 finding 4: one datagram could be relayed to any address
// named in dst.udp), and a queue id reaches only an instance that serves the envelope's virtual
// address (a box or a peer cannot reach another session's instance by naming its queue).
// Sans-IO: dispatch with fake transports and a fake node, no sockets, no timers.

import test from 'ava';
import type { Envelope, Transport, UdpAddress } from '../../runtime/index.ts';
import { BoxLocations } from '../../headend/node/box-locations.ts';
import { MAX_HELD, NodeDispatch, type DispatchHost } from '../../headend/node/dispatch.ts';

const SELF: UdpAddress = { host: '127.0.0.1', port: 4000 };
const PEER: UdpAddress = { host: '127.0.0.1', port: 4001 };
const STRANGER: UdpAddress = { host: '192.0.2.7', port: 53 };

function fakeUdp(sent: Envelope[]): Transport {
  return {
    kind: 'udp',
    address: { udp: SELF },
    send: (e) => {
      sent.push(e);
      return Promise.resolve();
    },
    onEnvelope: () => {},
    close: () => Promise.resolve(),
    closed: false,
    stats: () => ({}),
  };
}

function world(starting?: DispatchHost['starting']) {
  const sent: Envelope[] = [];
  const delivered: { iid: string; module: string; env: Envelope }[] = [];
  const specs: Record<string, { app: string; session: string }> = { 'p1.n1': { app: 'mix', session: 's1' }, 'p2.n1': { app: 'mix', session: 's2' } };
  let settled = 0;
  const host = {
    udpAddress: SELF,
    resolver: { resolve: () => undefined, invalidate: () => {} },
    registry: { getSession: () => Promise.resolve(undefined) },
    portions: {
      has: (iid: string) => iid in specs,
      spec: (iid: string) => specs[iid],
      pick: (iids: readonly string[]) => iids[0],
      deliver: (iid: string, module: string, env: Envelope) => delivered.push({ iid, module, env }) > 0,
    },
    replicaRoute: () => undefined,
    leader: () => true,
    controlVaddr: () => 'weft://headend/n1/control',
    isNodeUdp: (u: UdpAddress) => {
      settled++;
      return Promise.resolve(u.port === SELF.port || u.port === PEER.port);
    },
    starting,
  } as unknown as DispatchHost;
  const d = new NodeDispatch({ host, udp: fakeUdp(sent), boxes: new BoxLocations() });
  d.table.host('weft://mix/s1/counter', 'counter', 'p1.n1');
  d.table.host('weft://mix/s2/counter', 'counter', 'p2.n1');
  return { d, sent, delivered, settled: () => settled };
}

function req(dst: Envelope['dst'], kind: Envelope['kind'] = 'req'): Envelope {
  return { v: 1, kind, id: 1, src: { vaddr: 'weft://mix/s1/counter', queue: 'p1.n1' }, dst };
}

// Let the forward chain (a few promise hops) run out; no timers involved.
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

test('a request or message to a UDP address that is no registered node is not sent, and is counted', async (t) => {
  const w = world();
  w.d.dispatch(req({ vaddr: 'weft://mix/s9/x', udp: STRANGER }));
  w.d.dispatch(req({ vaddr: 'weft://mix/s9/x', udp: STRANGER }, 'msg'));
  w.d.dispatch(req({ vaddr: 'weft://mix/s9/x', udp: PEER }));
  await settle();
  t.deepEqual(
    w.sent.map((e) => e.dst.udp?.port),
    [PEER.port],
    'only the registered peer was sent anything',
  );
  t.is(w.d.refused.relay, 2);
});

test('an answer goes back to its request source even when that is not a node', async (t) => {
  const w = world();
  w.d.dispatch(req({ vaddr: 'weft://box/b1/inbox', udp: STRANGER }, 'rep'));
  await settle();
  t.is(w.sent.length, 1);
  t.is(w.d.refused.relay, 0);
});

test("a queue id reaches only an instance that serves the envelope's virtual address", (t) => {
  const w = world();
  // The vaddr is session s1's; the queue names session s2's instance.
  w.d.dispatch(req({ vaddr: 'weft://mix/s1/counter', queue: 'p2.n1' }));
  t.deepEqual(
    w.delivered.map((x) => x.iid),
    ['p1.n1'],
    "delivered by address to s1's own instance, never to s2's",
  );
  t.is(w.d.refused.queueMismatch, 1);
  w.d.dispatch(req({ vaddr: 'weft://mix/s2/counter', queue: 'p2.n1' }));
  t.is(w.delivered[1]?.iid, 'p2.n1', 'a matching queue id still goes straight to its instance');
});

test('the held queue of a moving instance is bounded; what it holds is released in order', (t) => {
  const w = world();
  const release = w.d.hold('p1.n1');
  for (let i = 0; i <= MAX_HELD; i++) w.d.dispatch({ ...req({ vaddr: 'weft://mix/s1/counter', queue: 'p1.n1' }), id: i + 1 });
  t.is(w.delivered.length, 0, 'held while moving');
  t.is(w.d.refused.heldFull, 1, 'one past the bound is refused (UNAVAILABLE), not kept');
  release();
  t.is(w.delivered.length, MAX_HELD);
  t.deepEqual(
    w.delivered.slice(0, 3).map((x) => x.env.id),
    [1, 2, 3],
  );
});

test('envelopes waiting for a start in flight here are bounded; the start delivers them in order [c31]', async (t) => {
  let started!: () => void;
  const start = new Promise<void>((r) => (started = r));
  const w = world((v) => (v === 'weft://mix/s3/counter' ? start : undefined));
  for (let i = 0; i <= MAX_HELD; i++) w.d.dispatch({ ...req({ vaddr: 'weft://mix/s3/counter' }), id: i + 1 });
  t.is(w.sent.length, 0, 'nothing forwarded or answered while the start is in flight');
  t.is(w.d.refused.heldFull, 1, 'one past the bound is refused (UNAVAILABLE), not kept');
  w.d.table.host('weft://mix/s3/counter', 'counter', 'p2.n1');
  started();
  await start;
  await new Promise((r) => setImmediate(r));
  t.is(w.delivered.length, MAX_HELD, 'each held envelope reaches the instance once it runs');
  t.deepEqual(w.delivered.slice(0, 3).map((x) => x.env.id), [1, 2, 3]);
});
