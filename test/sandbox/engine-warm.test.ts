// [issue 18.6] warmEngine: a throwaway runtime and context that compile and run a little module
// and a host call, leaving nothing behind (the debug build's leak sanitizer agrees), never
// throwing at its caller (a broken engine is the app start's to report), and the engine as
// usable after it as before.
import test from 'ava';
import { AppSandbox, loadEngine, warmEngine } from '../../sandbox/index.ts';
import { one } from './_harness.ts';

test('debug build: a warm-up runs the module and leaves no runtime, context or allocation behind', async (t) => {
  const engine = await loadEngine({ variant: 'debug' });
  t.true(warmEngine(engine));
  t.is(engine.liveRuntimes(), 0);
  t.notThrows(() => engine.assertNoLeaks());
  t.true(warmEngine(engine), 'again: nothing of the first one is in the way');
  t.notThrows(() => engine.assertNoLeaks());
});

test('after a warm-up the engine runs an app as before', async (t) => {
  const engine = await loadEngine();
  t.true(warmEngine(engine));
  const shown: unknown[] = [];
  const app = new AppSandbox(engine, { app: 'test', side: 'box', ui: (s) => shown.push(s) });
  t.teardown(() => app.destroy());
  const r = app.load(await one(`weft.on('start', () => weft.ui.show({ ok: 1 }));`, { name: 'ui', uses: ['ui'] }));
  if (!r.ok) return t.fail(r.error.message);
  t.true(r.value.start().ok);
  t.deepEqual(shown, [{ ok: 1 }]);
});

test('a broken engine is not warmed and nothing throws; it is the app start that reports it', async (t) => {
  const engine = await loadEngine();
  engine.fail('aborted in a test');
  t.false(warmEngine(engine));
  t.throws(() => new AppSandbox(engine, { app: 'warm', side: 'box' }), { message: /must be renewed first/ });
});
