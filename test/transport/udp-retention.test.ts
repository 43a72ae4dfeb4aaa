// An acknowledged transfer must not be held by the transport (D118). Its retransmission entry
// stays in the wheel until it surfaces, seconds later under a long timeout, while any other
// transfer is pending: an entry that held the transfer kept its envelope and fragments alive.
import test from 'ava';
import { ManualClock, type Envelope } from '../../runtime/index.ts';
import { createUdpTransport } from '../../transport/index.ts';
import { collected } from '../_helpers/gc.ts';

const to = (port: number, id: number): Envelope => ({ v: 1, kind: 'req', id, src: { vaddr: 'weft://t/a/x' }, dst: { vaddr: 'weft://t/b/x', udp: { host: '127.0.0.1', port } }, body: new Uint8Array(4096) });

test('an acknowledged envelope is not held while another transfer waits for its acknowledgement', async (t) => {
  const clock = new ManualClock(); // never advanced: the unanswered transfer stays pending
  const a = await createUdpTransport({ clock });
  const b = await createUdpTransport();
  const hole = await createUdpTransport();
  const holePort = hole.address.udp!.port;
  await hole.close(); // nobody acknowledges there
  try {
    const held = a.send(to(holePort, 1));
    held.catch(() => undefined);
    const got = new Promise<Envelope>((r) => b.onEnvelope(r));
    const ref = await (async () => {
      const env = to(b.address.udp!.port, 2);
      await a.send(env); // resolved by b's acknowledgement
      return new WeakRef(env);
    })();
    await got;
    t.is(a.stats().pendingSends, 1, `the first transfer is still pending: ${JSON.stringify(a.stats())}`);
    t.true(await collected(ref), 'the acknowledged envelope was collected');
  } finally {
    await a.close();
    await b.close();
  }
});
