// A retransmission timer that fires late means this process's loop was stalled (a busy machine):
// the acknowledgement may be sitting unread in the socket. The give-up verdict first lets the
// loop read its input (one retransmission timeout more), then decides. Seen in `npm run
// test:stress`: "no acknowledgement after 1 transmissions (5171 ms)" after a stall of ~5 s.
import test from 'ava';
import { TimeoutError, type Clock, type Envelope } from '../../runtime/index.ts';
import { createUdpTransport } from '../../transport/index.ts';
import { StallClock } from '../_helpers/stall-clock.ts';

const env = (clock: Clock, port: number): Envelope => ({ v: 1, kind: 'req', id: 1, src: { vaddr: 'weft://t/a/x' }, dst: { vaddr: 'weft://t/b/x', udp: { host: '127.0.0.1', port } }, deadline: clock.now() + 5000, body: 'hello' });

test('a give-up timer that fired after a stall past the deadline waits one turn: the ack already sent is read, the send succeeds', async (t) => {
  const clock = new StallClock();
  const a = await createUdpTransport({ clock });
  const b = await createUdpTransport();
  const got = new Promise<Envelope>((r) => b.onEnvelope(r));
  try {
    const sent = a.send(env(clock, b.address.udp!.port));
    clock.stall(6000); // the process froze before it read anything: the deadline has passed
    clock.fire(); // the retransmission timer runs first, 5.9 s late
    await got;
    await t.notThrowsAsync(sent, 'the acknowledgement was read before the verdict');
    t.is(a.stats().timeouts, 0);
  } finally {
    await a.close();
    await b.close();
  }
});

test('with no acknowledgement at all, the late verdict still comes: a TimeoutError one retransmission timeout later', async (t) => {
  const clock = new StallClock();
  const a = await createUdpTransport({ clock });
  const b = await createUdpTransport();
  const port = b.address.udp!.port;
  await b.close(); // nobody answers
  try {
    const sent = a.send(env(clock, port));
    clock.stall(6000);
    clock.fire(); // late: put off once
    let settled = false;
    sent.catch(() => undefined).finally(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    t.false(settled, 'not decided in the turn the late timer fired');
    clock.stall(1000); // one retransmission timeout of our own running time later
    clock.fire(); // on time now: the verdict
    const err = await t.throwsAsync(sent);
    t.true(err instanceof TimeoutError, `got ${err?.name}`);
    t.is(a.stats().timeouts, 1);
  } finally {
    await a.close();
  }
});
