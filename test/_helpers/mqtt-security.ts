// A per-box security probe: a legitimate head-end and box (box-b) talk while an attacker with
// valid credentials of its own (box-a, a raw mqtt.js client) tries to read and forge box-b's
// traffic. Returns what leaked, so tests assert "nothing" on the real ACL and "something" on a
// loosened one (proof the probe would catch a loosened ACL).

import { EnvelopeCodec, type Envelope } from '../../runtime/index.ts';
import { openRawClient, type RawMqttClient } from '../../transport/mqtt.ts';
import { boxAddress } from '../../transport/mqtt-topics.ts';
import { secretOf, transport, until } from './mqtt-fixtures.ts';

export interface Leaks {
  /** Topics of other parties' traffic the attacker received. */
  read: string[];
  /** Attacker-made envelopes the head-end delivered as coming from box-b. */
  forgedIngress: number;
  /** Attacker-made envelopes box-b delivered as coming from the head-end. */
  forgedInbox: number;
  /** Subscriptions the broker granted the attacker outside its own inbox. */
  granted: string[];
  /** Whether box-b lost its link while the attacker tried to take its session. */
  victimDropped: boolean;
}

const SPY_FILTERS = ['weft/box/box-b/#', 'weft/box/+/#', 'weft/up/#', 'weft/up/box-b/#', '#'];

export async function probe(url: string): Promise<Leaks> {
  const codec = new EnvelopeCodec();
  const node = await transport(url, 'node-1', { rateLimit: { perSec: 1e6, burst: 1e6 } });
  const victim = await transport(url, 'box-b');
  const atNode: Envelope[] = [];
  const atVictim: Envelope[] = [];
  node.onEnvelope((e) => atNode.push(e));
  victim.onEnvelope((e) => atVictim.push(e));
  const attackerOpts = { username: 'box-a', clientId: 'box-a', password: secretOf('box-a') };
  let spy: RawMqttClient = await openRawClient(url, attackerOpts);
  const leaks: Leaks = { read: [], forgedIngress: 0, forgedInbox: 0, granted: [], victimDropped: false };
  const own = 'weft/box/box-a/';
  let markers = 0;
  const watch = (c: RawMqttClient): void => {
    c.on('message', (topic) => {
      if (topic.startsWith(own)) markers++;
      else leaks.read.push(topic);
    });
  };
  watch(spy);
  try {
    // 1. Read: subscribe wide, then let the victim and the head-end talk.
    await spy.subscribeAsync(`${own}#`, { qos: 1 });
    for (const f of SPY_FILTERS) {
      // mqtt.js rejects a subscription the broker refused (SUBACK 0x80).
      const granted = await spy.subscribeAsync(f, { qos: 1 }).catch(() => []);
      if (granted[0] !== undefined && granted[0].qos !== 128) leaks.granted.push(f);
    }
    const victimAddr = boxAddress('box-b');
    await node.send({ v: 1, kind: 'req', id: 1, src: node.address, dst: victimAddr, body: 'secret for b' });
    await victim.send({ v: 1, kind: 'req', id: 2, src: victimAddr, dst: { vaddr: 'weft://guide/s1/search' }, body: 'secret from b' });
    await until(() => atVictim.length >= 1 && atNode.length >= 1, 3000, 'legitimate traffic');
    // Marker into the attacker's own inbox, published after the victim's traffic was routed.
    await node.send({ v: 1, kind: 'msg', id: 3, src: node.address, dst: boxAddress('box-a'), body: 'marker' });
    await until(() => markers >= 1, 3000, 'marker in the attacker inbox');

    // 2. Forge: box-b's ingress and box-b's inbox, with envelopes that would pass every check
    // a transport makes (the source claims to be box-b, resp. the head-end).
    const forgedUp = codec.encode({ v: 1, kind: 'req', id: 9001, src: victimAddr, dst: { vaddr: 'weft://guide/s1/search' }, body: 'forged' });
    const forgedDown = codec.encode({ v: 1, kind: 'msg', id: 9002, src: node.address, dst: victimAddr, body: 'forged' });
    for (const [topic, bytes] of [['weft/up/box-b/guide/s1/search', forgedUp], ['weft/box/box-b/box/box-b/inbox', forgedDown]] as const) {
      if (!spy.connected) {
        spy = await openRawClient(url, attackerOpts);
        watch(spy);
      }
      // aedes drops a connection that publishes where it may not; mosquitto acks and discards.
      await Promise.race([spy.publishAsync(topic, Buffer.from(bytes), { qos: 1 }).catch(() => {}), closed(spy)]);
    }
    // Markers after the forgeries: once they arrive, anything forged would have too.
    if (!spy.connected) {
      spy = await openRawClient(url, attackerOpts);
      watch(spy);
    }
    const before = atNode.length;
    await spy.publishAsync('weft/up/box-a/guide/s1/search', Buffer.from(codec.encode({ v: 1, kind: 'msg', id: 9003, src: boxAddress('box-a'), dst: { vaddr: 'weft://guide/s1/search' }, body: 'marker' })), { qos: 1 });
    await until(() => atNode.length > before && atNode.some((e) => e.body === 'marker'), 3000, 'marker at the head-end');
    const vBefore = atVictim.length;
    await node.send({ v: 1, kind: 'msg', id: 4, src: node.address, dst: victimAddr, body: 'marker' });
    await until(() => atVictim.length > vBefore && atVictim.some((e) => e.body === 'marker'), 3000, 'marker at the victim');
    leaks.forgedIngress = atNode.filter((e) => e.body === 'forged').length;
    leaks.forgedInbox = atVictim.filter((e) => e.body === 'forged').length;

    // 3. Session takeover: the attacker's credentials with the victim's client id.
    const linkBefore = victim.stats().linkDrops;
    const thief = await openRawClient(url, { ...attackerOpts, clientId: 'box-b' }).catch(() => undefined);
    await thief?.endAsync(true);
    await node.send({ v: 1, kind: 'msg', id: 5, src: node.address, dst: victimAddr, body: 'after' });
    await until(() => atVictim.some((e) => e.body === 'after') || victim.stats().linkDrops > linkBefore, 3000, 'victim traffic after takeover attempt');
    leaks.victimDropped = victim.stats().linkDrops > linkBefore;
    return leaks;
  } finally {
    await spy.endAsync(true).catch(() => {});
    await Promise.all([node.close(), victim.close()]);
  }
}

function closed(c: RawMqttClient): Promise<void> {
  return new Promise((resolve) => (c.connected ? c.once('close', () => resolve()) : resolve()));
}
