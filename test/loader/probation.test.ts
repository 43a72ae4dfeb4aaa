// Box probation as a pure decision (issue 15): commit after every boot module is ready and
// healthy for the probation time; a fault, a crash loop or no ready reverts. Injected `now`.
import test from 'ava';
import { Probation } from '../../loader/probation.ts';

function trial(probationMs = 10_000, readyMs = 5_000): { p: Probation; at: { now: number } } {
  const at = { now: 1_000 };
  const p = new Probation({ now: () => at.now, readyMs });
  p.begin({ sha: 'a'.repeat(64), version: '1.0.1', expect: ['ui', 'clock'], probationMs });
  return { p, at };
}

test('commits only after every expected module is ready and the probation time has passed since', (t) => {
  const { p, at } = trial();
  t.is(p.event({ kind: 'module', module: 'ui', action: 'started' }), undefined);
  at.now += 4_000;
  t.is(p.event({ kind: 'module', module: 'clock', action: 'started' }), undefined);
  t.is(p.due(), 15_000, 'probation counts from the last ready');
  at.now = 14_999;
  t.is(p.check(), undefined);
  at.now = 15_000;
  t.deepEqual(p.check(), { kind: 'commit' });
});

test('a second module fault or a crash loop during probation reverts at once; one fault (a slow box\'s watchdog) is forgiven', (t) => {
  const a = trial();
  t.is(a.p.event({ kind: 'module', module: 'ui', action: 'fault', detail: 'watchdog' }), undefined);
  t.is(a.p.event({ kind: 'module', module: 'ui', action: 'restarted' }), undefined);
  t.like(a.p.event({ kind: 'module', module: 'ui', action: 'fault', detail: 'TypeError: x' }), { kind: 'revert', reason: 'module-fault' });
  const b = trial();
  t.like(b.p.event({ kind: 'module', module: 'ui', action: 'failed', detail: 'budget' }), { kind: 'revert', reason: 'crash-loop' });
});

test('a trial may forgive more faults (a first version, with nothing to go back to); a crash loop still fails it', (t) => {
  const p = new Probation({ now: () => 0, readyMs: 1_000 });
  p.begin({ sha: 'b'.repeat(64), version: '1.0.0', expect: ['ui'], probationMs: 0, faultsAllowed: Number.MAX_SAFE_INTEGER });
  for (let i = 0; i < 3; i++) t.is(p.event({ kind: 'module', module: 'ui', action: 'fault', detail: 'watchdog' }), undefined);
  t.like(p.event({ kind: 'module', module: 'ui', action: 'failed', detail: 'budget' }), { kind: 'revert', reason: 'crash-loop' });
});

test('no ready within readyMs reverts, naming the module that never came up', (t) => {
  const { p, at } = trial();
  p.event({ kind: 'module', module: 'ui', action: 'started' });
  at.now += 4_999;
  t.is(p.check(), undefined);
  at.now += 1;
  const v = p.check();
  t.like(v, { kind: 'revert', reason: 'no-ready' });
  t.regex(v?.kind === 'revert' ? v.detail : '', /clock/);
});

test('other events and ended trials decide nothing', (t) => {
  const { p } = trial();
  t.is(p.event({ kind: 'log', module: 'ui', level: 'info', message: 'x' }), undefined);
  p.end();
  t.is(p.event({ kind: 'module', module: 'ui', action: 'fault' }), undefined);
  t.is(p.check(), undefined);
  t.throws(() => new Probation({ now: () => 0, readyMs: 0 }), { instanceOf: RangeError });
  t.throws(() => new Probation({ now: () => 0, readyMs: 1, faultsAllowed: -1 }), { instanceOf: RangeError });
});

test('no ready within readyMs reverts, but the deadline stretches by the box\'s measured loop lag: a starved box has not given the version its time (issue 15, 13.3)', (t) => {
  const at = { now: 0, lag: 0 };
  const p = new Probation({ now: () => at.now, readyMs: 30_000, lag: () => at.lag });
  p.begin({ sha: 'c'.repeat(64), version: '1.0.1', expect: ['ui'], probationMs: 5_000 });
  // The fleet process of 200 key-pressing boxes lagged 25 s: the ui's start waited behind it.
  at.lag = 25_000;
  at.now = 30_000;
  t.is(p.check(), undefined, 'starved: not judged yet');
  t.is(p.due(), 55_000, 'judged again once the lag is made up');
  at.now = 40_000;
  t.is(p.event({ kind: 'module', module: 'ui', action: 'started' }), undefined, 'it started: ready');
  at.now = 45_000;
  t.deepEqual(p.check(), { kind: 'commit' });
  // On a box that is not lagging, the gate is as before: no ready after 30 s reverts.
  at.lag = 0;
  p.begin({ sha: 'd'.repeat(64), version: '1.0.2', expect: ['ui'], probationMs: 5_000 });
  at.now += 30_000;
  t.like(p.check(), { kind: 'revert', reason: 'no-ready' });
});
