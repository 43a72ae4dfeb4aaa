// [issue 19, build 6] The embedded broker must survive a backlog: with aedes' default
// `concurrency` (100 deliveries in flight) further messages queue in its mqemitter, and the queue
// is drained recursively (one stack frame set per message whose delivery completes at once, e.g.
// to a topic nobody holds any more: replies to boxes already gone), so a node under a
// connection storm died of `RangeError: Maximum call stack size exceeded` near 8,000 boxes
// (bench -- scale; mcollina/mqemitter#204). The broker is built with BROKER_CONCURRENCY: no queue.
// In process, no sockets: aedes' own emitter with a stalled subscriber.
import test from 'ava';
import { Aedes } from 'aedes';
import { BROKER_CONCURRENCY } from '../../headend/broker/broker-aedes.ts';

test('a backlog of 50,000 messages behind stalled deliveries drains without overflowing the stack', async (t) => {
  const broker = await Aedes.createBroker({ concurrency: BROKER_CONCURRENCY });
  t.teardown(() => new Promise<void>((r) => broker.close(() => r())));
  // aedes' emitter (typed loosely: not in aedes' public types).
  const mq = (broker as unknown as { mq: { on(topic: string, fn: (m: unknown, done: () => void) => void): void; emit(m: object, cb?: () => void): void } }).mq;
  const stalled: (() => void)[] = [];
  mq.on('slow/topic', (_m: unknown, done: () => void) => void stalled.push(done));
  for (let i = 0; i < 150; i++) mq.emit({ topic: 'slow/topic', payload: i });
  let delivered = 0;
  for (let i = 0; i < 50_000; i++) mq.emit({ topic: `gone/box-${i}`, payload: i }, () => void delivered++);
  t.notThrows(() => {
    for (const done of stalled.splice(0)) done();
  });
  t.is(delivered, 50_000, 'every message was handled');
});
