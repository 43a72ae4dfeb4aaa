// An engine per app (issue 12 finding 8, build item 6): a memory bomb grows only its own app's
// WebAssembly instance, and that memory is given back once the app's sandboxes are gone. Checked
// through the engines' own accounting (WebAssembly memory byte length), not process RSS.
import test from 'ava';
import { AppEngines, AppSandbox, type SandboxError } from '../../sandbox/index.ts';
import { one } from './_harness.ts';

const from = { queue: 'tester' };
const MiB = 1 << 20;
const BOMB = `const hoard = []; weft.on('request', () => { for (;;) hoard.push(new Array(100000).fill(7)); });`;
const BUDDY = `weft.on('request', () => new Array(20000).fill(1).length);`;

async function sandbox(engines: AppEngines, app: string, source: string, onFault?: (e: SandboxError, s: AppSandbox) => void) {
  const engine = await engines.acquire(app);
  const s: AppSandbox = new AppSandbox(engine, { app, side: 'headend', limits: { deadlineMs: 5000, watchdogGraceMs: 5000, memoryBytes: 256 * MiB }, onFault: (e) => onFault?.(e, s) });
  const m = s.load(await one(source, { name: 'm', kind: 'server' }, app));
  if (!m.ok) throw m.error;
  m.value.start();
  return { s, m: m.value, engine };
}

test('a memory bomb grows only its app engine, and the memory is given back when its sandbox goes', async (t) => {
  const engines = new AppEngines({ maxMemoryBytes: 64 * MiB });
  const bomb = await sandbox(engines, 'bomb', BOMB, (e, s) => {
    if (e.fault === 'memory') engines.retire(s.engine);
  });
  const buddy = await sandbox(engines, 'buddy', BUDDY);
  t.not(bomb.engine, buddy.engine, 'each app has its own engine');
  const err = (await t.throwsAsync(bomb.m.serve({}, from))) as SandboxError;
  t.is(err.fault, 'memory');
  t.true(engines.memoryOf('bomb') > 56 * MiB, `the bomb's instance grew to its cap: ${engines.memoryOf('bomb')}`);
  t.is(engines.memoryOf('buddy'), 16 * MiB, 'the neighbour did not grow');
  t.is(await buddy.m.serve({}, from), 20000, 'the neighbour allocates as before');
  // The faulting app's next sandbox already gets a fresh instance.
  const again = await sandbox(engines, 'bomb', BUDDY);
  t.not(again.engine, bomb.engine);
  t.is(await again.m.serve({}, from), 20000);
  bomb.s.destroy();
  engines.release(bomb.engine);
  t.is(engines.memoryOf('bomb'), 16 * MiB, 'the grown instance is no longer held: only the fresh one');
  t.is(engines.memoryBytes(), 32 * MiB);
  for (const x of [again, buddy]) {
    x.s.destroy();
    engines.release(x.engine);
  }
  t.is(engines.memoryBytes(), 0, 'nothing held once the apps are gone');
  t.like(engines.stats(), { engines: 0, loaded: 3, discarded: 3, retired: 1, refused: 0 });
});

test('sandboxes of one app share its engine until the last is released; the engine cap refuses by name', async (t) => {
  const engines = new AppEngines({ maxEngines: 2 });
  const a1 = await engines.acquire('a');
  const a2 = await engines.acquire('a');
  t.is(a1, a2);
  await engines.acquire('b');
  const e = (await t.throwsAsync(engines.acquire('c'))) as SandboxError;
  t.is(e.fault, 'memory');
  t.regex(e.message, /already holds 2 app engines/);
  engines.release(a1);
  t.is(engines.stats().engines, 2, 'still leased once');
  engines.release(a2);
  t.is(engines.stats().engines, 1);
  t.not(await engines.acquire('a'), a1, 'a fresh instance once the app came back');
  t.is(engines.stats().refused, 1);
  t.throws(() => new AppEngines({ maxEngine: 3 } as never), { message: /maxEngine/ });
});

test('a broken engine is dropped at once; the app gets a fresh one', async (t) => {
  const engines = new AppEngines();
  const e1 = await engines.acquire('a');
  e1.fail('Aborted(test)');
  engines.retire(e1);
  t.is(engines.stats().engines, 0);
  const e2 = await engines.acquire('a');
  t.not(e2, e1);
  t.is(e2.broken, undefined);
});
