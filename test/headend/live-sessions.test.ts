// The node's report reads its sessions per app every second [issue 19.6]: with 18,000 light boxes
// held, a pass over every session in that report held the node's loop (and a full box's request
// behind it) once a second. The counts are kept as sessions come and go; the report visits none.
import test from 'ava';
import { SessionOps, type Envelope, type ResourceReport } from '../../runtime/index.ts';
import { LiveSessions } from '../../headend/live-sessions.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryRegistry } from '../_helpers/headend.ts';
import { sessionPair } from '../_helpers/session-pair.ts';
import { countCalls } from '../_helpers/count-calls.ts';

const report = (box: string): ResourceReport => ({ boxId: box, profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low', cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: 0 });
const openEnv = (i: number): Envelope => ({ v: 1, kind: 'req', id: i + 1, op: SessionOps.open, src: { vaddr: `weft://box/b${i}/inbox` }, dst: { vaddr: 'weft://headend/*/sessions' }, body: { app: 'mix', version: '1.0.0', boxId: `b${i}`, report: report(`b${i}`) } });

/** Steps of every Map iterator (values, keys, entries, for-of) while `fn` runs. */
function mapSteps<T>(fn: () => T): { out: T; steps: number } {
  const proto = Object.getPrototypeOf(new Map().values()) as { next: () => unknown };
  const c = countCalls(proto, 'next');
  try {
    return { out: fn(), steps: c.calls };
  } finally {
    c.restore();
  }
}

test('perApp with 1,500 sessions hosted visits none of them', async (t) => {
  const { pub } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const n1 = sessionPair(['n1'], registry, pub, { placeOn: 'n1', autoDeliver: true }).nodes.get('n1')!;
  const opened: string[] = [];
  for (let i = 0; i < 1500; i++) opened.push(((await n1.sessions.handle(openEnv(i))) as { session: string }).session);
  t.is(n1.sessions.count, 1500);
  const { out, steps } = mapSteps(() => n1.sessions.perApp());
  t.deepEqual(out, { mix: 1500 });
  t.true(steps < 10, `the report stepped ${steps} times through a map (a pass over the sessions)`);
  for (const s of opened.slice(0, 500)) n1.sessions.moved(s);
  t.deepEqual(n1.sessions.perApp(), { mix: 1000 }, 'sessions that moved away no longer count');
  await registry.close();
});

test('the counts follow sets, overwrites and deletes, and drop an app at zero', (t) => {
  const live = new LiveSessions();
  live.set('s1', { app: 'a', box: 'b1' });
  live.set('s2', { app: 'a', box: 'b2' });
  live.set('s3', { app: 'b', box: 'b3' });
  t.deepEqual(live.perApp(), { a: 2, b: 1 });
  live.set('s2', { app: 'b', box: 'b2' }); // taken again for another app: counted once, under it
  t.deepEqual(live.perApp(), { a: 1, b: 2 });
  t.true(live.delete('s1'));
  t.false(live.delete('s1'), 'a second delete changes nothing');
  t.deepEqual(live.perApp(), { b: 2 });
  t.is(live.size, 2);
  t.deepEqual(live.get('s3'), { app: 'b', box: 'b3' });
});
