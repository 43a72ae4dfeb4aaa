// The deep leak check: the debug build of QuickJS (assertions + leak sanitizer) runs a workout
// of every host path, including faults, then every runtime and context must be gone and no
// wasm memory left allocated.
import test from 'ava';
import { loadEngine } from '../../sandbox/index.ts';
import { Apps, one } from './_harness.ts';
import { Net, settle } from './_net.ts';

const from = { queue: 'tester' };

test('debug build: a workout of every host path leaves no runtime, context or allocation behind', async (t) => {
  const engine = await loadEngine({ variant: 'debug' });
  const apps = new Apps(engine);
  const net = new Net(apps.clock);
  const app = apps.make({ session: 's1', limits: { deadlineMs: 200, startDeadlineMs: 400 }, ui: () => {}, device: { model: 'dbg' } });
  const at: Record<string, import('../../sandbox/index.ts').ModuleSandbox | undefined> = {};
  const load = async (name: string, source: string, uses: ('ui' | 'storage' | 'device')[] = []) => {
    const r = app.load(await one(source, { name, uses }), { link: net.attach(`weft://test/s1/${name}`, () => at[name]) });
    if (!r.ok) throw r.error;
    at[name] = r.value;
    r.value.start();
    return r.value;
  };
  const echo = await load('echo', `weft.on('request', async (b) => { await null; return { b }; }); weft.on('message', () => {});`);
  const busy = await load(
    'busy',
    `let n = 0;
     weft.setTimeout(() => n++, 10);
     const pending = weft.setTimeout(() => n++, 1e6);
     weft.on('key', (k) => weft.ui.show({ k, model: weft.device.info().model }));
     weft.on('request', async (b) => {
       if (b === 'throw') throw new TypeError('bad');
       if (b === 'loop') for (;;) {}
       weft.storage.set('k', { n });
       weft.send(weft.address('echo'), { hi: 1 });
       const r = await weft.request(weft.address('echo'), 7);
       let failed; try { await weft.request('weft://test/s1/nobody', 1, { timeout: 5 }); } catch (e) { failed = e.code; }
       return { r, failed, stored: weft.storage.get('k'), keys: weft.storage.keys() };
     });
     export function snapshot() { return { n }; }
     export function restore(s) { n = s.n; }`,
    ['ui', 'storage', 'device'],
  );
  apps.clock.advance(20);
  app.pressKey('up');
  const reply = busy.serve('go', from);
  await settle();
  apps.clock.advance(10);
  await settle();
  t.like(await reply, { r: { b: 7 }, stored: { n: 1 }, keys: ['k'] });
  t.true(busy.snapshot().ok);
  await t.throwsAsync(busy.serve('throw', from), { message: /TypeError: bad/ });
  const looper = await load('looper', `weft.on('request', () => { for (;;) {} });`);
  await t.throwsAsync(looper.serve(null, from), { message: /deadline/ });
  t.is(echo.state, 'started');
  net.close();
  apps.finish(t);
  t.notThrows(() => engine.assertNoLeaks());
});
