// [issue 15, bench rollout] The app's heap figure (loader/app-runner.ts memoryUsed) walks the
// QuickJS heap; every box report (5 s) walked it again on boxes where no guest code had run, about
// 7% of a 300-box fleet process's CPU in a 1,000-box publish. The figure is now kept until guest
// code runs or a module comes or goes; the memory watch, which measures after guest code ran,
// sees growth exactly as before. Injected clock; the heap walks are counted, not timed.
import test from 'ava';
import { ManualClock } from '../../runtime/index.ts';
import { AppRunner } from '../../loader/app-runner.ts';
import { BoxSwitch } from '../../loader/switch.ts';
import type { Cpu } from '../../loader/ports.ts';
import { loadEngine, MemoryStore } from '../../sandbox/index.ts';
import { verified } from '../sandbox/_harness.ts';

const engine = await loadEngine();
const HOG = `let keep = [];
  weft.on('request', (b) => { if (b === 'grow') keep.push(new Array(150000).fill(1.5)); return keep.length; });`;
const LIMIT = 2 << 20;

async function rig() {
  const clock = new ManualClock();
  const cpu: Cpu = { run: (fn) => Promise.resolve().then(fn), load: () => 0, now: () => performance.now() };
  const sw = new BoxSwitch({ app: 'test', boxId: 'box-1', cpu, clock, timeoutMs: 1000 });
  // QuickJS's own cap well above the box's app memory: the watch is what stops the module.
  const runner = new AppRunner({ engine, app: 'test', limits: { memoryBytes: 64 << 20 }, clock, cpu, storage: new MemoryStore(), device: {}, switch: sw, ui: () => {}, onFault: () => {}, memoryLimit: LIMIT });
  const mods = await verified('test', [{ name: 'hog', source: HOG }]);
  for (const mod of mods.values()) await runner.start(mod);
  const sb = runner.sandbox;
  let walks = 0;
  const walk = sb.memoryUsed.bind(sb);
  sb.memoryUsed = () => (walks++, walk());
  return { runner, walks: () => walks };
}

test('reports with no guest code between them walk the heap once; guest code makes the next one measure again', async (t) => {
  const { runner, walks } = await rig();
  t.teardown(() => runner.destroy());
  const first = runner.memoryUsed();
  for (let i = 0; i < 20; i++) t.is(runner.memoryUsed(), first);
  t.true(walks() <= 1, `${walks()} heap walks for 21 reports of an idle box`);
  const before = walks();
  await runner.sandbox.module('hog')?.serve('x', { queue: 'tester' });
  runner.memoryUsed();
  t.is(walks(), before + 1, 'guest code ran: measured again');
});

test('the bound holds: growth after a kept figure is measured at the next entry, over the app memory the watch compares with', async (t) => {
  const { runner } = await rig();
  t.teardown(() => runner.destroy());
  const idle = runner.memoryUsed();
  t.true(idle < LIMIT, `starts under the limit: ${idle}`);
  for (let i = 0; i < 3; i++) await runner.sandbox.module('hog')?.serve('grow', { queue: 'tester' });
  const grown = runner.memoryUsed();
  t.true(grown > LIMIT, `the kept figure did not hide the growth: ${grown} bytes`);
  // The watch stopping such a module on a box: test/devices/emulator.test.ts ("the loader's memory watch stops it").
});
