// docs/SECURITY.md row "membership comes from the registry": a heartbeat or statistics report
// naming a node that has no member record does not make it a peer, whatever UDP pair it names
// (issue 12 findings 1 and 4: a forged timing.beat invented a node, and the head-end then sent
// datagrams to an address of the sender's choosing). A beat from a node not known yet makes the
// node re-read the registry (rate-limited), so real joins are still learnt. Sans-IO.

import test from 'ava';
import { ManualClock, type Envelope, type UdpAddress } from '../../runtime/index.ts';
import { Membership } from '../../headend/node/membership.ts';

const SELF: UdpAddress = { host: '127.0.0.1', port: 4000 };

function world() {
  const clock = new ManualClock(0);
  const members: { vaddr: string; node: string; udp: UdpAddress }[] = [];
  let reads = 0;
  const m = new Membership({
    id: 'n1',
    udpAddress: SELF,
    clock,
    registry: {
      bind: () => Promise.resolve({ ok: true }),
      unbind: () => Promise.resolve({ ok: true }),
      listBySession: () => {
        reads++;
        return Promise.resolve(members);
      },
    } as never,
    expect: () => {},
    isAlive: () => true,
    sendUdp: () => {},
  });
  return { m, clock, members, reads: () => reads };
}

function beat(node: string, udp: UdpAddress): Envelope {
  return { v: 1, kind: 'stat', id: 0, op: 'timing.beat', src: { vaddr: `weft://headend/${node}/stats`, udp }, dst: { vaddr: 'weft://headend/n1/stats' }, body: { node, udp, seq: 1 } };
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

test('a beat from a node without a member record does not make it a peer', async (t) => {
  const w = world();
  const evil: UdpAddress = { host: '192.0.2.9', port: 9 };
  w.m.heard(beat('evil', evil));
  await flush();
  t.deepEqual(w.m.peers(), []);
  t.is(w.m.peerUdp('evil'), undefined);
  t.false(w.m.isMember('evil'));
  t.false(await w.m.isNodeUdp(evil), 'and nothing is sent there');
});

test('a beat from a registered node not known yet is learnt from the registry, at most one read a second', async (t) => {
  const w = world();
  const n2: UdpAddress = { host: '127.0.0.1', port: 4002 };
  w.members.push({ vaddr: 'weft://headend/*/member-n2', node: 'n2', udp: n2 });
  // The beat claims another UDP pair: the registry's record wins.
  w.m.heard(beat('n2', { host: '192.0.2.9', port: 9 }));
  await flush();
  t.deepEqual(w.m.peerUdp('n2'), n2);
  const reads = w.reads();
  for (let i = 0; i < 100; i++) w.m.heard(beat('stranger', n2));
  await flush();
  t.is(w.reads(), reads, 'strangers within the second cause no registry reads');
  w.clock.advance(1000);
  w.m.heard(beat('stranger', n2));
  await flush();
  t.is(w.reads(), reads + 1);
});
