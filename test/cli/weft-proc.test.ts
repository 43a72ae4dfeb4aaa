// The WeftProc helper (test/_helpers/weft-proc.ts) on real processes: a wait for a line the
// process can no longer print, because it has ended, fails at once with its exit and stderr, not at
// the wait's timeout; a line it printed before it ended is still found.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import test from 'ava';
import { WeftProc } from '../_helpers/weft-proc.ts';

test('WeftProc: a weft that exits before the line waited for fails the wait with its exit code and stderr', async (t) => {
  const p = WeftProc.start(['no-such-command']);
  t.teardown(() => p.stop());
  // The wait's own timeout is far off: what ends it is the process ending, seen once it has closed.
  const waited = p.until((l) => l.event === 'ready', 'the ready line', 3_600_000).then(() => 'found', (e: Error) => e.message);
  await once(p.child, 'close');
  await new Promise((r) => setImmediate(r));
  const outcome = await Promise.race([waited, Promise.resolve('still waiting after the process closed')]);
  t.regex(outcome, /exited \(2\) waiting for the ready line/);
  t.regex(outcome, /unknown command 'no-such-command'/);
});

test('WeftProc: a line printed before the process ended is found after it ended', async (t) => {
  const p = new WeftProc(spawn(process.execPath, ['-e', 'console.log(JSON.stringify({ event: "ready" }))'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await once(p.child, 'close');
  t.deepEqual(await p.until((l) => l.event === 'ready', 'the ready line', 3_600_000), { event: 'ready' });
});

test('WeftProc: stop() on a process already killed by a signal returns', async (t) => {
  const p = new WeftProc(spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  p.child.kill('SIGKILL');
  await once(p.child, 'exit');
  await p.stop();
  t.is(p.child.signalCode, 'SIGKILL');
});
