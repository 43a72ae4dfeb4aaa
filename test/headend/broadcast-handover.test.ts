// [c31] With broadcast ingress every node hears every box and serves only what is its own
// (NodeDispatch.mine). When a session is re-placed (a false death, issue 19), the old host lets
// go of the address as soon as it reads the new claim, while the new host's worker still starts
// the instance: before, neither node called a box request of that moment its own, and it got no
// answer at all (node-mqtt's stress flake at 200 ms beats). A start in flight makes it the new
// host's, held until the instance runs. Sans-IO: dispatch with fake transports and a fake node.

import test from 'ava';
import type { Envelope, SendDone, Transport, UdpAddress } from '../../runtime/index.ts';
import { BoxLocations } from '../../headend/node/box-locations.ts';
import { NodeDispatch, type DispatchHost } from '../../headend/node/dispatch.ts';

const SELF: UdpAddress = { host: '127.0.0.1', port: 4000 };
const V = 'weft://mix/s1/counter';

function transport(): Transport {
  return {
    kind: 'fake',
    address: { udp: SELF },
    send: () => Promise.resolve(),
    post: (e: Envelope, done: SendDone) => done(undefined, e),
    onEnvelope: () => {},
    close: () => Promise.resolve(),
    closed: false,
    stats: () => ({}),
  };
}

/** A node whose start of V is in flight until `finish()`; then instance `p1` serves V. */
function startingNode() {
  let finish = (): void => {};
  let start: Promise<void> | undefined = new Promise<void>((r) => (finish = r));
  const delivered: Envelope[] = [];
  const running = new Set<string>();
  const host = {
    id: 'n2',
    udpAddress: SELF,
    resolver: { resolve: () => undefined, invalidate: () => {} },
    registry: { getSession: () => Promise.resolve(undefined) },
    portions: { has: (i: string) => running.has(i), spec: () => undefined, pick: (ids: string[]) => ids.find((i) => running.has(i)), deliver: (_i: string, _m: string, e: Envelope) => (delivered.push(e), true) },
    replicaRoute: () => undefined,
    leader: () => false,
    controlVaddr: () => 'weft://headend/n2/control',
    isNodeUdp: () => Promise.resolve(true),
    starting: (v: string) => (v === V ? start : undefined),
  } as unknown as DispatchHost;
  const d = new NodeDispatch({ host, udp: transport(), mqtt: transport(), boxes: new BoxLocations() });
  const done = async (): Promise<void> => {
    running.add('p1');
    d.table.host(V, 'counter', 'p1');
    const s = start;
    start = undefined;
    finish();
    await s;
  };
  return { d, delivered, done };
}

const req: Envelope = { v: 1, kind: 'req', id: 5, src: { vaddr: 'weft://box/b1/inbox' }, dst: { vaddr: V }, body: 'x' };

test('a box request for an address whose start is in flight here is this node\'s: held, then delivered to the instance [c31]', async (t) => {
  const n = startingNode();
  t.true(n.d.mine(req), 'the node starting the instance takes it');
  n.d.dispatch(req);
  t.is(n.delivered.length, 0, 'held while the worker starts the instance');
  await n.done();
  await new Promise((r) => setImmediate(r));
  t.deepEqual(n.delivered, [req]);
  t.false(n.d.mine({ ...req, dst: { vaddr: 'weft://mix/s2/counter' } }), 'another session\'s is not');
});
