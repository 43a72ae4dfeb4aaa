// A fleet counts dead-path verdicts apart from the late adoptions that undid some of them (issue
// 13.4): a dial that came up on a connection judged dead before says how many verdicts it undid,
// and the fleet's summary (and every process's, added up) carries both numbers.
import test from 'ava';
import { FleetWatch } from '../../devices/fleet-watch.ts';
import { parseSummary } from '../../devices/fleet-procs.ts';

test('verdicts, late adoptions and the verdicts they undid are counted apart', (t) => {
  const w = new FleetWatch(() => 0);
  w.event('b1', { kind: 'dial', ok: false, deadPath: true });
  w.event('b1', { kind: 'dial', ok: false, deadPath: true });
  w.event('b1', { kind: 'dial', ok: true, undone: 2 });
  w.event('b2', { kind: 'dial', ok: false, deadPath: true });
  w.event('b2', { kind: 'dial', ok: true });
  t.like(w.channel, { deadPaths: 3, failures: 3, lateAdopted: 1, deadPathsUndone: 2 });
});

test('a process summary carries them; one from an older fleet (without them) reads as 0', (t) => {
  const line = (channel: object): string => JSON.stringify({ event: 'fleet', s: 1, boxes: 2, states: { up: 2 }, rssMb: 1, cpuMs: 1, channel, booted: [] });
  t.like(parseSummary(line({ deadPaths: 3, deadLinks: 0, failures: 3, downs: 0, lateAdopted: 1, deadPathsUndone: 2 }))?.channel, { lateAdopted: 1, deadPathsUndone: 2 });
  t.like(parseSummary(line({ deadPaths: 3, deadLinks: 0, failures: 3, downs: 0 }))?.channel, { lateAdopted: 0, deadPathsUndone: 0, lateBusy: 0 });
  t.like(parseSummary(line({ deadPaths: 3, deadLinks: 0, failures: 3, downs: 0, lateAdopted: 0, deadPathsUndone: 2, lateBusy: 1 }))?.channel, { deadPathsUndone: 2, lateBusy: 1 });
  t.is(parseSummary(line({ deadPaths: 3, deadLinks: 0, failures: 3, downs: 0, lateBusy: 'x' })), undefined);
  t.is(parseSummary(line({ deadPaths: 3, deadLinks: 0, failures: 3, downs: 0, lateAdopted: 'x' })), undefined);
});

// [issue 19.5] Where a 5,000-box run's boot p95 and false verdicts came from: the boots over the
// goal with their time by state, and each verdict by kind and the box's phase when it came.
test('boots over the goal keep their time by state apart; verdicts are counted by kind and the phase they came in', (t) => {
  let now = 0;
  const w = new FleetWatch(() => now, 3000);
  const move = (box: string, from: string, to: string, event = 'ok'): void => w.event(box, { kind: 'state', from, to, event, action: 'none', at: now } as never);
  w.starting('fast');
  w.starting('slow');
  move('fast', 'off', 'connecting');
  move('slow', 'off', 'connecting');
  now = 500;
  w.event('slow', { kind: 'dial', ok: false, deadPath: true });
  move('fast', 'connecting', 'session-setup');
  now = 1000;
  move('fast', 'session-setup', 'up');
  w.event('slow', { kind: 'dial', ok: true, undone: 1 });
  move('slow', 'connecting', 'session-setup');
  now = 4000;
  move('slow', 'session-setup', 'up');
  now = 9000;
  move('fast', 'up', 'connecting', 'link-dead');
  t.is(w.slow, 1);
  t.deepEqual(w.slowPhaseMs, { off: 0, connecting: 1000, 'session-setup': 3000 });
  t.deepEqual(w.phaseMs, { off: 0, connecting: 1500, 'session-setup': 3500 });
  t.deepEqual(w.verdicts, { 'dial@connecting': 1, 'undone@connecting': 1, 'link@up': 1 });
  t.like(w.channel, { deadPaths: 1, deadLinks: 1, deadPathsUndone: 1 });
});

test('a summary carries the slow boots, the verdicts by phase and the loop delay; a bad one is refused', (t) => {
  const line = (extra: object): string => JSON.stringify({ event: 'fleet', s: 1, boxes: 2, states: { up: 2 }, rssMb: 1, cpuMs: 1, channel: { deadPaths: 0, deadLinks: 0, failures: 0, downs: 0 }, booted: [], ...extra });
  const s = parseSummary(line({ slow: 2, slowPhaseMs: { connecting: 7000 }, verdicts: { 'link@up': 1 }, loopMaxMs: 480 }));
  t.like(s, { slow: 2, slowPhaseMs: { connecting: 7000 }, verdicts: { 'link@up': 1 }, loopMaxMs: 480 });
  t.is(parseSummary(line({ verdicts: { 'link@up': 'x' } })), undefined);
  t.is(parseSummary(line({ verdicts: [1] })), undefined);
  t.is(parseSummary(line({ loopMaxMs: 'late' })), undefined);
  t.is(parseSummary(line({}))?.verdicts, undefined, 'an older fleet without them still parses');
});
