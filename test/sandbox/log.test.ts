// weft.log.* and console.* (issue 16 finding 3): lines reach the host with their module and level,
// arguments printed as a developer expects, each line cut to a size, and at most 100 lines per
// module per 10 s (the rest counted and said once), on the injected clock.
import test from 'ava';
import { loadEngine } from '../../sandbox/index.ts';
import { Apps, one } from './_harness.ts';

const engine = await loadEngine();

test('weft.log and console lines reach the host with module and level', async (t) => {
  const apps = new Apps(engine);
  const lines: [string, string, string][] = [];
  const app = apps.make({ log: (module, level, text) => lines.push([module, level, text]) });
  const m = app.load(await one(`weft.on('start', () => {
      weft.log.info('ready', { n: 1 }, [2]);
      weft.log.error('bad', 42);
      console.log('plain');
      console.warn('careful');
      weft.log.debug('x'.repeat(5000));
    });`, { name: 'chatty' }));
  if (!m.ok) return t.fail(m.error.message);
  m.value.start();
  t.deepEqual(lines.slice(0, 4), [
    ['chatty', 'info', 'ready {"n":1} [2]'],
    ['chatty', 'error', 'bad 42'],
    ['chatty', 'info', 'plain'],
    ['chatty', 'warn', 'careful'],
  ]);
  t.is(lines[4]?.[2].length, 1000, 'a line is cut to 1,000 characters');
  apps.finish(t);
});

test('a module logging in a loop is bounded: 100 lines per 10 s, the rest counted and said once', async (t) => {
  const apps = new Apps(engine);
  const lines: [string, string, string][] = [];
  const app = apps.make({ log: (module, level, text) => lines.push([module, level, text]) });
  const m = app.load(await one(`weft.on('request', () => { for (let i = 0; i < 250; i++) weft.log.info('line ' + i); return 1; });`, { name: 'loop' }));
  if (!m.ok) return t.fail(m.error.message);
  m.value.start();
  await m.value.serve({}, { queue: 'x' });
  t.is(lines.length, 100);
  apps.clock.advance(10_000);
  await m.value.serve({}, { queue: 'x' });
  t.deepEqual(lines[100], ['loop', 'warn', '150 log lines dropped (over 100 in 10 s)']);
  t.is(lines.length, 201);
  apps.finish(t);
});

test('weft.log and console are installed only in a module whose text names them (lazy: 4 host functions less per start)', async (t) => {
  const apps = new Apps(engine);
  const app = apps.make();
  const probe = `[typeof weft['l' + 'og'], typeof globalThis['con' + 'sole']]`;
  const silent = app.load(await one(`weft.on('request', () => ${probe});`, { name: 'silent' }));
  const talks = app.load(await one(`weft.on('request', () => ${probe}); const quiet = () => console;`, { name: 'talks' }));
  if (!silent.ok || !talks.ok) return t.fail('a module did not load');
  silent.value.start();
  talks.value.start();
  t.deepEqual(await silent.value.serve(null, { queue: 'tester' }), ['undefined', 'undefined']);
  t.deepEqual(await talks.value.serve(null, { queue: 'tester' }), ['object', 'object']);
  apps.finish(t);
});
