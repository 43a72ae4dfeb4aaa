// docs/SECURITY.md row "refusals": a refused box envelope is counted every time and logged at
// most once per box per minute (an injected clock, no waiting), so a hostile box cannot flood the
// operator's log.

import test from 'ava';
import { Codes, ManualClock, type Envelope } from '../../runtime/index.ts';
import { REFUSAL_LOG_EVERY_MS, RefusalLog, classifyFromBox } from '../../headend/node/box-ingress.ts';

function env(box: string, dst: string, op?: string): Envelope {
  const e: Envelope = { v: 1, kind: 'req', id: 1, src: { vaddr: `weft://box/${box}/inbox` }, dst: { vaddr: dst }, ext: { by: `box:${box}` } };
  if (op !== undefined) e.op = op;
  return e;
}

test('refusals are counted each time and logged once per box per minute', (t) => {
  const clock = new ManualClock(0);
  const lines: string[] = [];
  const log = new RefusalLog(clock, (l) => lines.push(l));
  const r = { reason: 'node-internal' as const, code: Codes.FORBIDDEN, message: 'control is not box-facing' };
  for (let i = 0; i < 100; i++) log.refused('box-a', r, env('box-a', 'weft://headend/n1/control', 'portion.start'));
  log.refused('box-b', r, env('box-b', 'weft://headend/n1/control', 'portion.start'));
  t.is(log.counts['node-internal'], 101);
  t.is(lines.length, 2, 'one line for box-a, one for box-b');
  clock.advance(REFUSAL_LOG_EVERY_MS - 1);
  log.refused('box-a', r, env('box-a', 'weft://headend/n1/control'));
  t.is(lines.length, 2);
  clock.advance(1);
  log.refused('box-a', r, env('box-a', 'weft://headend/n1/control'));
  t.is(lines.length, 3, 'a minute later the box is logged again');
});

test('endpoint classes: only the box-facing endpoints and operations pass the classifier', (t) => {
  const ok = (e: Envelope) => !('reason' in classifyFromBox(e));
  t.true(ok(env('a', 'weft://headend/*/sessions', 'session.open')));
  t.true(ok(env('a', 'weft://headend/n1/modules', 'module.get')));
  t.true(ok({ ...env('a', 'weft://headend/*/stats', 'stats.box'), kind: 'stat' }));
  t.false(ok(env('a', 'weft://headend/*/stats', 'timing.beat')));
  t.false(ok(env('a', 'weft://headend/*/stats', 'stats.node')));
  t.false(ok(env('a', 'weft://headend/n1/control', 'portion.start')));
  t.false(ok(env('a', 'weft://headend/n1/control', 'replica.start')));
  t.false(ok(env('a', 'weft://headend/n1/services', 'order')));
  t.false(ok(env('a', 'weft://headend/*/member-n1', 'x')));
  t.false(ok(env('a', 'weft://box/b/inbox')), 'no box to box through the head-end');
  t.false(ok(env('a', 'weft://guide/*/search')), 'shared portions are for server portions');
  const unsigned: Envelope = { ...env('a', 'weft://headend/*/sessions', 'session.open') };
  delete unsigned.ext;
  t.is((classifyFromBox(unsigned) as { code: number }).code, Codes.UNAUTHENTICATED);
  const spoofed = { ...env('a', 'weft://guide/s1/search'), src: { vaddr: 'weft://box/b/inbox' } };
  t.like(classifyFromBox(spoofed), { reason: 'spoofed-source' });
  t.like(classifyFromBox(env('a', 'weft://guide/s1/search')), { box: 'a', sessions: [{ app: 'guide', session: 's1' }] });
});
