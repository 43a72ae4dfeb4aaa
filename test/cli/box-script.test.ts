// Scripting boxes from the command line: key scripts, terminal keys, --exit-on/--timeout.
// Pure parts directly; `weft box run` and `weft fleet run` as real processes on a loopback carousel.
import test from 'ava';
import { EXIT, parseKeys, parseState, runScript, terminalKey } from '../../cli/box-script.ts';
import { onAir } from '../_helpers/on-air.ts';
import { runWeft as weft } from '../_helpers/weft-proc.ts';

test('key scripts: one key per token, characters and names; anything else refused by name', (t) => {
  t.deepEqual(parseKeys('1,2,ok'), ['1', '2', 'ok']);
  t.deepEqual(parseKeys('n,e, down ,OK,ch+'), ['n', 'e', 'down', 'ok', 'ch+']);
  t.throws(() => parseKeys('1,<script>'), { message: /"<script>" is not a remote key/ });
  t.throws(() => parseKeys(' , '), { message: /no keys given/ });
  t.is(parseState('up'), 'up');
  t.throws(() => parseState('happy'), { message: /unknown state "happy"/ });
  t.is(terminalKey('\x1b[B'), 'down');
  t.is(terminalKey('\r'), 'ok');
  t.is(terminalKey('N'), 'n');
  t.is(terminalKey('\x1b[15~'), undefined);
});

test('a fleet script ends when every box reached the state, counting each box once', async (t) => {
  const pressed: string[] = [];
  const s = runScript({ keys: ['a'], gapMs: 1, exitOn: 'up', count: 2, press: (k) => pressed.push(k) });
  let ended = false;
  void s.done.then(() => (ended = true));
  s.onState('up', 'b1');
  s.onState('interrupted', 'b1');
  s.onState('up', 'b1');
  await Promise.resolve();
  t.false(ended, 'one box twice is not two boxes');
  s.onState('up', 'b2');
  t.is(await s.done, EXIT.reached);
  t.deepEqual(pressed, ['a'], 'the keys land before the script ends');
});

test('weft box run --keys --exit-on-scene: the keys reach the ui, exit 0 on its answer', async (t) => {
  const { args: air } = await onAir(t);
  const r = await weft(['box', 'run', '--device', 'broadcast-only', ...air, '--keys', 'search', '--key-gap', '20', '--exit-on-scene', 'results', '--timeout', '120']);
  t.is(r.code, EXIT.reached, r.err);
  // The test app's ui answers the `search` key by asking its search module (degraded: on the box).
  const screens = r.lines.filter((l) => l.kind === 'scene').map((l) => (l.scene as { screen?: string }).screen);
  t.true(screens.includes('results'), JSON.stringify(screens));
  t.like(r.lines.at(-1), { kind: 'stopped' });
});

test('weft box run --exit-on up on a box with no return channel: exit 3 at the timeout', async (t) => {
  const { args: air } = await onAir(t);
  const r = await weft(['box', 'run', '--device', 'broadcast-only', ...air, '--exit-on', 'up', '--timeout', '1']);
  t.is(r.code, EXIT.timeout, r.err);
});

test('weft fleet run --exit-on degraded: exit 0 when every box got there', async (t) => {
  const { args: air } = await onAir(t);
  // The stop line counts each box's state whose entry has run: a box counted as it announced
  // `degraded` while its fallback modules still started was once counted `acquiring-fallback-2`
  // (load 30, and 2 of 17 runs at load 8). On failure, each box's path on one line.
  const r = await weft(['fleet', 'run', '--count', '2', '--mix', 'broadcast-only:1', ...air, '--exit-on', 'degraded', '--timeout', '120', '--events', 'state,error']);
  t.is(r.code, EXIT.reached, r.err);
  const path = (box: string): string => `${box}: ${r.lines.filter((l) => l.box === box).map((l) => String(l.to ?? l.message ?? '')).join(' > ')}`;
  t.like(r.lines.at(-1), { event: 'stopped', states: { degraded: 2 } }, `${path('box-1')}\n${path('box-2')}`);
});
