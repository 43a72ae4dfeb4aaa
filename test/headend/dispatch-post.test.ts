// The node's forward path posts (issue 19 build 1): an answer, or an envelope for a box the node
// already knows, is handed to its transport in the same turn, with no promise per hop; what needs
// a look-up (a request to a UDP address: is it a registered node?) still waits for it. Sans-IO:
// dispatch with fake transports and a fake node, no sockets, no timers.

import test from 'ava';
import { LinkDownError } from '../../transport/mqtt-errors.ts';
import type { Envelope, SendDone, Transport, UdpAddress } from '../../runtime/index.ts';
import { BoxLocations } from '../../headend/node/box-locations.ts';
import { NodeDispatch, type DispatchHost } from '../../headend/node/dispatch.ts';

const SELF: UdpAddress = { host: '127.0.0.1', port: 4000 };
const PEER: UdpAddress = { host: '127.0.0.1', port: 4001 };

function fake(kind: string, fail?: () => Error | undefined): Transport & { posted: Envelope[]; sent: Envelope[] } {
  const posted: Envelope[] = [];
  const sent: Envelope[] = [];
  return {
    kind,
    address: { udp: SELF },
    posted,
    sent,
    send: (e) => (sent.push(e), Promise.resolve()),
    post: (e: Envelope, done: SendDone) => {
      posted.push(e);
      done(fail?.(), e);
    },
    onEnvelope: () => {},
    close: () => Promise.resolve(),
    closed: false,
    stats: () => ({}),
  };
}

function world(fail?: () => Error | undefined) {
  const host = {
    id: 'n1',
    udpAddress: SELF,
    resolver: { resolve: () => undefined, invalidate: () => {} },
    registry: { getSession: () => Promise.resolve(undefined) },
    portions: { has: () => false, spec: () => undefined, pick: () => undefined, deliver: () => false },
    replicaRoute: () => undefined,
    leader: () => true,
    controlVaddr: () => 'weft://headend/n1/control',
    isNodeUdp: (u: UdpAddress) => Promise.resolve(u.port === PEER.port),
  } as unknown as DispatchHost;
  const udp = fake('udp');
  const mqtt = fake('mqtt', fail);
  const d = new NodeDispatch({ host, udp, mqtt, boxes: new BoxLocations() });
  return { d, udp, mqtt };
}

const BOX = 'weft://box/box-a/loader';
const env = (kind: Envelope['kind'], dst: Envelope['dst']): Envelope => ({ v: 1, kind, id: 7, corr: 3, src: { vaddr: 'weft://headend/*/sessions' }, dst });

test('a reply to a box and an answer to a node go out in the same turn, posted, no promise hop', (t) => {
  const w = world();
  w.d.dispatch(env('rep', { vaddr: BOX }));
  w.d.dispatch(env('err', { vaddr: 'weft://mix/s1/x', udp: PEER }));
  w.d.dispatch(env('msg', { vaddr: BOX }));
  t.deepEqual(w.mqtt.posted.map((e) => e.kind), ['rep', 'msg']);
  t.deepEqual(w.udp.posted.map((e) => e.kind), ['err']);
  t.is(w.mqtt.sent.length + w.udp.sent.length, 0, 'nothing went through the promise send');
  t.is(w.d.counters.forwarded, 3);
});

test('a request to a UDP address still waits for the registered-node check', async (t) => {
  const w = world();
  w.d.dispatch(env('req', { vaddr: 'weft://mix/s1/x', udp: PEER }));
  t.is(w.udp.posted.length + w.udp.sent.length, 0, 'not sent before the check');
  for (let i = 0; i < 20; i++) await Promise.resolve();
  t.is(w.udp.posted.length + w.udp.sent.length, 1);
});

test('a post that fails makes the envelope undeliverable, counted (an answer gets no answer back)', async (t) => {
  const w = world(() => new LinkDownError('link to the broker is down (reconnecting)'));
  w.d.dispatch(env('rep', { vaddr: BOX }));
  t.is(w.d.counters.undeliverable, 1);
  w.d.dispatch({ ...env('req', { vaddr: BOX }), src: { vaddr: 'weft://mix/s1/x', udp: PEER } });
  t.is(w.d.counters.undeliverable, 2);
  for (let i = 0; i < 20; i++) await Promise.resolve();
  t.is(w.udp.posted.length + w.udp.sent.length, 1, 'the failed request was answered with an error');
});
