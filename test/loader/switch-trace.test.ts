// The box starts traces [issue 17]: with a sampler, a module's request across the return channel
// carries ext.tp; the loader's own requests never do; without a sampler nothing is added.
import test from 'ava';
import { ManualClock, formatTraceparent, newTrace, type Envelope, type Transport } from '../../runtime/index.ts';
import { BoxSwitch } from '../../loader/switch.ts';
import type { Cpu } from '../../loader/ports.ts';

function rig(traceparent?: () => string | undefined) {
  const clock = new ManualClock();
  const cpu: Cpu = { run: (fn) => Promise.resolve().then(fn), load: () => 0, now: () => 0 };
  const seen: Envelope[] = [];
  // The return channel as the switch sees it: what the box sends is kept here.
  const box: Transport = { kind: 'test', address: { vaddr: 'weft://box/b/inbox' }, send: (e) => (seen.push(e), Promise.resolve()), onEnvelope: () => {}, close: () => Promise.resolve(), closed: false, stats: () => ({}) };
  const sw = new BoxSwitch({ app: 'mix', boxId: 'b', cpu, clock, timeoutMs: 1000, ...(traceparent === undefined ? {} : { traceparent }) });
  sw.attach(box);
  sw.setSession('s1');
  sw.setRemote('counter');
  return { sw, seen };
}

test('a sampled module request carries the traceparent; the loader\'s own request does not', async (t) => {
  const tp = formatTraceparent(newTrace(() => 0.5));
  const { sw, seen } = rig(() => tp);
  void sw.link('ui').request(sw.addressOf('counter'), { q: 1 }).catch(() => undefined);
  void sw.ask('counter', { q: 2 }).catch(() => undefined);
  await new Promise((r) => setImmediate(r));
  t.deepEqual(seen.map((e) => [e.src.vaddr, e.ext?.tp]), [['weft://mix/s1/ui', tp], [seen[1]?.src.vaddr, undefined]]);
});

test('without a sampler a module request carries no ext at all', async (t) => {
  const { sw, seen } = rig();
  void sw.link('ui').request(sw.addressOf('counter'), { q: 1 }).catch(() => undefined);
  await new Promise((r) => setImmediate(r));
  t.is(seen.length, 1);
  t.is(seen[0]?.ext, undefined);
});
