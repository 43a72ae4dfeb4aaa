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
  t.like(parseSummary(line({ deadPaths: 3, deadLinks: 0, failures: 3, downs: 0 }))?.channel, { lateAdopted: 0, deadPathsUndone: 0 });
  t.is(parseSummary(line({ deadPaths: 3, deadLinks: 0, failures: 3, downs: 0, lateAdopted: 'x' })), undefined);
});
