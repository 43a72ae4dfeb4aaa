// docs/SECURITY.md rows "sandbox: promise storm", "sandbox: memory returned", "sandbox:
// neighbour isolation" on the head-end: a real portion worker thread, hostile server modules
// beside a well-behaved app on the same thread. Outcomes are counted, never timed.
import test from 'ava';
import { serverApp, WorkerUnderTest } from './_portion-worker.ts';

const MiB = 1 << 20;
const PONG = `weft.on('request', (b) => ({ pong: b }));`;

test('a promise storm while a portion starts is refused with a named SandboxError, and the thread goes on', async (t) => {
  const w = await WorkerUnderTest.start();
  t.teardown(() => w.close());
  const good = await serverApp('good', { m: PONG });
  t.true((await w.startPortion(good, 's1')).ok);
  const storm = await serverApp('storm', { m: `const f = () => Promise.resolve().then(f); f();`, sibling: PONG });
  const r = await w.startPortion(storm, 's1');
  t.false(r.ok);
  const error = r.ok ? '' : r.error;
  // The head-end's short CPU slice usually ends the storm before its job count does.
  t.regex(error, /^storm\/m stopped: storm: (more than 10000 promise jobs in one event|\d+ promise jobs in one event used up its 100 ms CPU slice with more queued) \(a microtask storm\)/);
  t.notRegex(error, /Aborted|Assertion|list_empty/, 'no raw QuickJS text reaches the node');
  t.like((await w.answer(w.request('good', 's1', 'm', 1))).body, { pong: 1 }, 'the other app on the thread still answers');
  t.true((await w.startPortion(storm, 's2')).ok === false, 'the storm app is refused again, by name, not by a dead engine');
  t.true((await w.startPortion(good, 's2')).ok, 'and new portions still start on the thread');
});

test('a memory bomb grows only its own app engine, and the worker gives the memory back when the portion stops', async (t) => {
  const w = await WorkerUnderTest.start({ engineMemoryBytes: 64 * MiB });
  t.teardown(() => w.close());
  const good = await serverApp('good', { m: `weft.on('request', () => new Array(20000).fill(1).length);` });
  const bomb = await serverApp('bomb', { m: `const h = []; weft.on('request', () => { for (;;) h.push(new Array(100000).fill(7)); });` });
  t.true((await w.startPortion(good, 's1')).ok);
  t.true((await w.startPortion(bomb, 's1')).ok);
  t.like((await w.load()).sandbox, { engines: 2, engineBytes: 32 * MiB });
  const answer = await w.answer(w.request('bomb', 's1', 'm', null));
  t.is(answer.kind, 'err');
  t.regex(String((answer.body as { message?: unknown }).message), /memory/);
  const grown = (await w.load()).sandbox;
  t.true((grown?.engineBytes ?? 0) > 64 * MiB, `the bomb's engine grew: ${grown?.engineBytes}`);
  t.is((await w.answer(w.request('good', 's1', 'm', null))).body, 20000, 'the neighbour allocates as before');
  await w.stopPortion('bomb', 's1');
  t.like((await w.load()).sandbox, { engines: 1, engineBytes: 16 * MiB, retired: 1 }, "the bomb's instance is no longer held");
});

test('a spinning app cannot hold its neighbour behind its backlog: at most one slice goes first', async (t) => {
  const w = await WorkerUnderTest.start();
  t.teardown(() => w.close());
  const spin = await serverApp('spin', { m: `weft.on('request', () => { for (;;) {} });` });
  const good = await serverApp('good', { m: PONG });
  const N = 6;
  for (let i = 0; i < N; i++) t.true((await w.startPortion(spin, `s${i}`)).ok);
  t.true((await w.startPortion(good, 's1')).ok);
  const from = w.seen.length;
  const spins = Array.from({ length: N }, (_, i) => w.request('spin', `s${i}`, 'm', i));
  const mine = w.request('good', 's1', 'm', 'hi');
  t.like((await w.answer(mine)).body, { pong: 'hi' });
  const before = w.seen.slice(from).filter((m) => m.t === 'out' && m.env.kind === 'err' && spins.includes(m.env.corr ?? -1)).length;
  t.true(before <= 1, `${before} spinning events ran before the neighbour's request (FIFO: ${N})`);
  for (const id of spins) t.regex(String(((await w.answer(id)).body as { message?: unknown }).message), /CPU slice|deadline/);
  const load = await w.load();
  t.true((load.sandbox?.slices ?? 0) >= 0);
});
