// docs/SECURITY.md rows "sandbox: supervised modules" and "sandbox: promise storm on the box"
// (issue 13 finding 3, issue 12 finding 8): the box's AppRunner restarts a faulted module from
// its last snapshot within a restart budget, remakes the app runtime after a storm (siblings
// come back from their snapshots), and reports a module past its budget. Injected clock, no
// sleeps: the test advances the clock and waits on the runner's events.
import test from 'ava';
import { ManualClock } from '../../runtime/index.ts';
import { AppRunner, type SupervisionEvent } from '../../loader/app-runner.ts';
import { BoxSwitch } from '../../loader/switch.ts';
import type { Cpu } from '../../loader/ports.ts';
import { type Engine, loadEngine, MemoryStore, type SandboxError } from '../../sandbox/index.ts';
import { verified } from '../sandbox/_harness.ts';

const engine = await loadEngine();
const from = { queue: 'tester' };

const COUNTER = `let n = 0;
  weft.on('request', (b) => { if (b === 'throw') throw new Error('boom'); if (b === 'storm') { const f = () => Promise.resolve().then(f); f(); } return ++n; });
  export function snapshot() { return { n }; }
  export function restore(s) { n = s.n; }`;

async function rig(sources: Record<string, string>, o: { engine?: Engine; memoryBytes?: number } = {}) {
  const clock = new ManualClock();
  // The sandbox's CPU budget reads the test's clock, not the wall: under load, filling the big
  // module's 4e6-element array took longer than its budget and the module was stopped ("big is
  // not running"); no test here is about that budget (test/sandbox covers it).
  const cpu: Cpu = { run: (fn) => Promise.resolve().then(fn), load: () => 0, now: () => clock.now() };
  const sw = new BoxSwitch({ app: 'test', boxId: 'box-1', cpu, clock, timeoutMs: 1000 });
  const faults: SandboxError[] = [];
  const events: SupervisionEvent[] = [];
  const waiters: (() => void)[] = [];
  const runner = new AppRunner({
    engine: o.engine ?? engine,
    app: 'test',
    limits: { maxJobs: 500, ...(o.memoryBytes === undefined ? {} : { memoryBytes: o.memoryBytes }) },
    clock,
    cpu,
    storage: new MemoryStore(),
    device: {},
    switch: sw,
    ui: () => {},
    onFault: (e) => {
      faults.push(e);
      for (const w of waiters.splice(0)) w();
    },
    memoryLimit: 64 << 20,
    supervision: { restarts: 2, windowMs: 60_000, backoffMs: 200, maxBackoffMs: 5_000, checkpointMs: 1_000 },
    onSupervision: (e) => {
      events.push(e);
      for (const w of waiters.splice(0)) w();
    },
  });
  const mods = await verified('test', Object.entries(sources).map(([name, source]) => ({ name, source })));
  for (const mod of mods.values()) await runner.start(mod); // a start that faults is supervised too
  const ask = (name: string, body: unknown): Promise<unknown> => {
    const m = runner.sandbox.module(name);
    return m === undefined ? Promise.reject(new Error(`${name} is not running`)) : m.serve(body, from);
  };
  /** Advance the clock by `ms` and wait for `n` more supervision events. */
  const after = async (ms: number, n = 1): Promise<SupervisionEvent[]> => {
    const want = events.length + n;
    const done = new Promise<void>((resolve) => {
      const check = (): void => (events.length >= want ? resolve() : void waiters.push(check));
      check();
    });
    clock.advance(ms);
    await done;
    return events.slice(want - n);
  };
  /** Advance the clock by `ms` and wait for `n` more faults (a restart that faulted again). */
  const faulted = async (ms: number, n = 1): Promise<void> => {
    const want = faults.length + n;
    const done = new Promise<void>((resolve) => {
      const check = (): void => (faults.length >= want ? resolve() : void waiters.push(check));
      check();
    });
    clock.advance(ms);
    await done;
  };
  return { clock, runner, faults, events, ask, after, faulted };
}

test('a module stopped by an exception restarts after its backoff, from its last snapshot', async (t) => {
  const r = await rig({ counter: COUNTER });
  t.teardown(() => r.runner.destroy());
  for (let i = 1; i <= 3; i++) t.is(await r.ask('counter', null), i);
  r.clock.advance(1_000); // checkpoint: { n: 3 }
  await Promise.resolve();
  t.is(await r.ask('counter', null), 4, 'not in the checkpoint: lost with the fault (at most checkpointMs of updates)');
  await t.throwsAsync(r.ask('counter', 'throw'), { message: /boom/ });
  t.false(r.runner.has('counter'));
  r.clock.advance(199);
  t.false(r.runner.has('counter'), 'still backing off');
  t.like(await r.after(1), [{ module: 'counter', action: 'restarted', detail: 'from its last snapshot' }]);
  t.is(await r.ask('counter', null), 4, 'resumed from { n: 3 }');
  t.like(r.runner.stats(), { restarts: 1, runtimes: 0, failed: {} });
  t.true(r.runner.stats().checkpoints >= 1);
});

test('past its restart budget a module has failed: reported, not restarted again', async (t) => {
  const r = await rig({ crashy: `weft.on('start', () => { throw new Error('cannot start'); });`, counter: COUNTER });
  t.teardown(() => r.runner.destroy());
  t.is(r.faults.length, 1);
  r.clock.advance(199);
  await r.faulted(1); // the first restart, after 200 ms, faulted again
  r.clock.advance(399);
  t.is(r.faults.length, 2, 'the backoff doubled: nothing before 400 ms');
  const [failed] = await r.after(1);
  t.like(failed, { module: 'crashy', action: 'failed' });
  t.is(r.faults.length, 3);
  t.regex(failed?.detail ?? '', /stopped 3 times within 60000 ms; last: .*cannot start/);
  t.regex(r.runner.stats().failed.crashy ?? '', /cannot start/);
  r.clock.advance(60_000);
  t.false(r.runner.has('crashy'));
  t.is(await r.ask('counter', null), 1, 'its sibling runs on');
});

test('a promise storm stops the app runtime; a new one is made and the siblings come back from their snapshots', async (t) => {
  const r = await rig({ counter: COUNTER, other: COUNTER });
  t.teardown(() => r.runner.destroy());
  await r.ask('other', null);
  await r.ask('other', null);
  r.clock.advance(1_000); // other: { n: 2 }
  await Promise.resolve();
  const first = r.runner.sandbox;
  await r.ask('counter', 'storm'); // answers, then its promise jobs storm
  t.true(first.destroyed);
  t.regex(r.faults.find((e) => e.fault === 'storm')?.message ?? '', /test\/counter stopped: storm: more than 500 promise jobs/);
  t.is(engine.broken, undefined);
  t.true(r.faults.some((e) => e.fault === 'storm'));
  const back = await r.after(200, 2);
  t.deepEqual(back.map((e) => e.module).sort(), ['counter', 'other']);
  t.not(r.runner.sandbox, first, 'a new app runtime');
  t.is(await r.ask('other', null), 3, 'the sibling resumed from its snapshot');
  t.like(r.runner.stats(), { runtimes: 1, restarts: 2 });
  const taken = r.runner.stats().checkpoints;
  r.clock.advance(1_000);
  await Promise.resolve();
  t.true(r.runner.stats().checkpoints > taken, 'guest code in the new runtime is checkpointed (D104)');
});

test('when the app goes, the engine its modules grew is renewed: the memory goes back', async (t) => {
  const own = await loadEngine({ maxMemoryBytes: 128 << 20 });
  const r = await rig({ big: `const keep = new Array(4e6).fill(1.5); weft.on('request', () => keep.length);` }, { engine: own, memoryBytes: 120 << 20 });
  t.is(await r.ask('big', null), 4e6);
  t.true(own.memoryBytes() > 32 << 20, `grown: ${own.memoryBytes()}`);
  const renewed = own.renewals;
  r.runner.destroy();
  await new Promise<void>((resolve) => {
    const check = (): void => (own.renewals > renewed ? resolve() : void setImmediate(check));
    check();
  });
  t.is(own.memoryBytes(), 16 << 20, 'a fresh instance');
});
