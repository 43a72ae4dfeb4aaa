// A settled request must not be held by the channel (D118). Its deadline entry stays in the wheel
// until it surfaces, and while other requests are pending that is until the wheel is compacted:
// an entry that held the request's record kept its promise and reply alive that long (216 settled
// requests in a heap snapshot of bench -- mqtt's Weft rig).
import test from 'ava';
import { Channel, ManualClock, type Envelope } from '../../runtime/index.ts';
import { collected } from '../_helpers/gc.ts';

test('the reply of a settled request is not held while other requests stay pending', async (t) => {
  const clock = new ManualClock();
  const toB: Envelope[] = [];
  const a = new Channel({ self: { queue: 'a' }, write: (e) => void toB.push(e), clock, timeoutMs: 60_000 });
  const held = a.request({ queue: 'b' }, 'never answered');
  held.catch(() => undefined);
  const ref = await (async () => {
    const p = a.request({ queue: 'b' }, 'answered');
    const req = toB[1] as Envelope;
    a.receive({ v: 1, kind: 'rep', id: 9, corr: req.id, src: { queue: 'b' }, dst: { queue: 'a' }, body: { reply: new Uint8Array(4096) } });
    return new WeakRef((await p) as object);
  })();
  t.is(a.stats().pending, 1, 'the first request is still pending: the wheel is not idled');
  t.true(await collected(ref), 'the reply was collected once its caller dropped it');
  a.close();
});
