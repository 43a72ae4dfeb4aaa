// [issue 19, build 5] A fleet over child processes (devices/fleet-procs.ts): the children's
// summaries add up into one, other lines pass through, stop() ends every child, and a child
// that dies on its own is reported as died (never hidden), one that stops on request is not.
// The children are tiny `node -e` programs that print what a fleet child prints.
import test from 'ava';
import { FleetProcs, parseSummary, type ChildExit } from '../../devices/index.ts';
import { exitCode, fleetLine } from '../../cli/fleet-procs.ts';

const summary = (boxes: number, up: number, booted: number[], deadPaths = 0): string =>
  JSON.stringify({ event: 'fleet', s: 1, boxes, states: { up }, rssMb: 50, cpuMs: 10 * boxes, channel: { deadPaths, deadLinks: 0, failures: deadPaths, downs: 0 }, booted });

/** A child that prints `lines`, then stays until SIGTERM (printing `bye`), or exits with `exit`. */
function child(lines: string[], exit?: number): string[] {
  const then = exit === undefined ? "process.on('SIGTERM', () => { console.log('bye'); process.exit(0); }); setInterval(() => {}, 1000);" : `process.exitCode = ${exit};`;
  return [process.execPath, '-e', `for (const l of ${JSON.stringify(lines)}) console.log(l); ${then}`];
}

function until(pred: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => void (pred() ? resolve() : setImmediate(check));
    check();
  });
}

test('summaries add up, boot times are merged, other lines pass through, stop ends every child', async (t) => {
  const lines: string[] = [];
  const exits: ChildExit[] = [];
  const procs = new FleetProcs({
    slices: [{ first: 1, count: 3, cut: 0 }, { first: 4, count: 2, cut: 0 }],
    command: (s) => child([summary(s.count, s.count, s.first === 1 ? [100, 300, 200] : [50, 400], s.first === 1 ? 0 : 2), `{"box":"box-${s.first}","kind":"link"}`]),
    onLine: (l) => lines.push(l),
    onExit: (e) => exits.push(e),
  });
  await until(() => procs.totals().booted.length === 5 && lines.length === 2);
  const tot = procs.totals();
  t.like(tot, { procs: 2, alive: 2, died: 0, boxes: 5, states: { up: 5 }, rssMb: 100, cpuMs: 50, channel: { deadPaths: 2, deadLinks: 0, failures: 2, downs: 0 } });
  t.deepEqual([...tot.booted].sort((a, b) => a - b), [50, 100, 200, 300, 400]);
  t.deepEqual([...lines].sort(), ['{"box":"box-1","kind":"link"}', '{"box":"box-4","kind":"link"}']);
  const out = await procs.stop();
  t.true(out.every((e) => !e.died), 'children stopped on request did not die');
  t.is(exits.length, 2);
  t.true(lines.filter((l) => l === 'bye').length === 2, 'each child heard SIGTERM');
  t.is(exitCode(out, true), 0);
});

test('a child that exits on its own is reported as died, the others run on', async (t) => {
  const exits: ChildExit[] = [];
  const procs = new FleetProcs({
    slices: [{ first: 1, count: 1, cut: 0 }, { first: 2, count: 1, cut: 0 }],
    command: (s) => (s.first === 1 ? child([summary(1, 1, [10])], 7) : child([summary(1, 1, [20])])),
    onExit: (e) => exits.push(e),
  });
  await until(() => exits.length === 1);
  t.like(exits[0], { proc: 0, code: 7, died: true, slice: { first: 1, count: 1 } });
  t.is(procs.totals().alive, 1);
  t.is(procs.totals().died, 1);
  const out = await procs.stop();
  t.is(exitCode(out, true), 1, 'a death makes the fleet fail');
  t.false(out[1]?.died);
});

test('a child ending with a script verdict (0 reached, 3 timed out) is not a death', async (t) => {
  const procs = new FleetProcs({ slices: [{ first: 1, count: 1, cut: 0 }, { first: 2, count: 1, cut: 0 }], command: (s) => child([], s.first === 1 ? 0 : 3) });
  const out = await procs.exited();
  t.true(out.every((e) => !e.died));
  t.is(exitCode(out, false), 3);
});

test('a summary line from a child is checked before it is counted', (t) => {
  t.truthy(parseSummary(summary(1, 1, [5])));
  t.is(parseSummary('{"event":"fleet","boxes":"many"}'), undefined);
  t.is(parseSummary('{"event":"fleet",'), undefined);
  t.is(parseSummary(summary(1, 1, [5]).replace('"booted":[5]', '"booted":["x"]')), undefined);
  t.is(parseSummary('{"box":"b","kind":"state"}'), undefined);
});

test('the arrival gate\'s holds and boot capacities add up over the children; a fleet without a gate has none', async (t) => {
  const gated = (held: number[], capacityPerS: number): string => JSON.stringify({ ...(JSON.parse(summary(2, 2, [100, 200])) as object), held, capacityPerS });
  t.deepEqual(parseSummary(gated([0, 30], 12.5))?.held, [0, 30]);
  t.is(parseSummary(gated([0], 1).replace('"held":[0]', '"held":["x"]')), undefined);
  t.is(parseSummary(gated([0], 1).replace('"capacityPerS":1', '"capacityPerS":"fast"')), undefined);
  const procs = new FleetProcs({ slices: [{ first: 1, count: 2, cut: 0 }, { first: 3, count: 2, cut: 0 }], command: (s) => child([s.first === 1 ? gated([0, 40], 10) : gated([250, 0], 7.5)]) });
  t.teardown(() => procs.stop());
  await until(() => procs.totals().held.length === 4);
  const line = fleetLine(procs.totals(), 1);
  t.is(line.capacityPerS, 17.5);
  t.like(line.held, { n: 4, p50: 0, max: 250 });
  t.is(fleetLine({ ...procs.totals(), held: [], capacityPerS: null }, 1).held, undefined);
});

test('the parent\'s line: slow boots\' mean time by state, verdicts by phase, the longest loop delay', (t) => {
  const totals = { procs: 2, alive: 2, died: 0, boxes: 4, states: { up: 4 }, rssMb: 2, cpuMs: 2, channel: { deadPaths: 0, deadLinks: 1, failures: 0, downs: 1, lateAdopted: 0, deadPathsUndone: 0, lateBusy: 0 }, booted: [100, 200, 4000, 5000], held: [], capacityPerS: null, phaseMs: {}, startSpanMs: 0 };
  const line = fleetLine({ ...totals, slow: 2, slowPhaseMs: { connecting: 3000, 'session-setup': 6000 }, verdicts: { 'link@up': 1 }, loopMaxMs: 700 }, 1);
  t.deepEqual(line.slow, { n: 2, phases: { connecting: 1500, 'session-setup': 3000 } });
  t.deepEqual(line.verdicts, { 'link@up': 1 });
  t.is(line.loopMaxMs, 700);
  const quiet = fleetLine({ ...totals, slow: 0, slowPhaseMs: {}, verdicts: {}, loopMaxMs: 0 }, 1);
  t.true(quiet.slow === undefined && quiet.verdicts === undefined && quiet.loopMaxMs === undefined);
});
