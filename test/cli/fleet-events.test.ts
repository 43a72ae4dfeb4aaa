// `weft fleet run --events [kinds]`: every box event, or only the kinds a reader asks for
// (cli/fleet-events.ts); the kinds reach each child of `--procs N` (cli/fleet-procs.ts).
import test from 'ava';
import { BOX_EVENT_KINDS, eventFilter, parseEventKinds } from '../../cli/fleet-events.ts';
import { childArgs } from '../../cli/fleet-procs.ts';
import type { FleetFlags } from '../../cli/fleet.ts';

test('kinds: a comma-separated list of known kinds, repeats dropped', (t) => {
  t.deepEqual(parseEventKinds('probation, module,session,module'), ['probation', 'module', 'session']);
  t.throws(() => parseEventKinds('probation,scenes'), { message: /unknown kind "scenes"/ });
  t.throws(() => parseEventKinds(' , '), { message: /no kind given/ });
});

test('the filter: every kind, the listed ones, or none', (t) => {
  const some = eventFilter(['probation', 'session']);
  t.deepEqual(BOX_EVENT_KINDS.filter((k) => some(k)), ['session', 'probation']);
  t.false(some(undefined));
  t.true(BOX_EVENT_KINDS.every((k) => eventFilter(true)(k)));
  t.false(BOX_EVENT_KINDS.some((k) => eventFilter(undefined)(k)));
});

test('each child process of a fleet prints the same kinds', (t) => {
  const f = { count: 4, mix: 'hd-dvr:1', carousel: 'udp://127.0.0.1:1', prefix: 'b', first: 1, cut: 0, masterKey: 'k', seconds: 0, keyGap: 300, procs: 2, seed: 1, engine: 'box', summaryEvery: 2 } as FleetFlags;
  const slice = { first: 1, count: 2, cut: 0 };
  const argsOf = (events: FleetFlags['events']): string[] => childArgs({ ...f, ...(events === undefined ? {} : { events }) }, slice, 0, 2);
  const after = (a: string[]): string | undefined => (a.includes('--events') ? (a[a.indexOf('--events') + 1] ?? '') : undefined);
  t.is(after(argsOf(['probation', 'module'])), 'probation,module');
  t.true(argsOf(true).includes('--events'));
  t.false(argsOf(true).includes('probation'));
  t.is(after(argsOf(undefined)), undefined);
});
