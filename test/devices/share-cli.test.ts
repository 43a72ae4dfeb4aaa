// [issue 13, finding 7] Two `weft box run` processes on one host tune the same unicast carousel
// (before: the second printed EADDRINUSE and never tuned). Both boot; SIGTERM ends both.
import { type ChildProcess, spawn } from 'node:child_process';
import test from 'ava';
import { onAir } from '../_helpers/on-air.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

interface Run {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  /** Resolves when a line matching `pred` arrived (or the process ended: check the lines). */
  until(pred: (l: Record<string, unknown>) => boolean): Promise<void>;
  exited: Promise<number | null>;
}

function boxRun(args: string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'box', 'run', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  const waiters: [(l: Record<string, unknown>) => boolean, () => void][] = [];
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const p of parts.filter((x) => x.startsWith('{'))) {
      const l = JSON.parse(p) as Record<string, unknown>;
      lines.push(l);
      for (const [pred, resolve] of waiters) if (pred(l)) resolve();
    }
  });
  const kill = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(kill);
      resolve(code);
    }),
  );
  const until = (pred: (l: Record<string, unknown>) => boolean): Promise<void> =>
    Promise.race([new Promise<void>((resolve) => waiters.push([pred, resolve])), exited.then(() => undefined)]);
  return { child, lines, until, exited };
}

test('two weft box run processes share one unicast carousel port; both boot', async (t) => {
  const { args } = await onAir(t);
  const common = ['--device', 'broadcast-only', ...args];
  const runs = [boxRun([...common, '--id', 'share-a']), boxRun([...common, '--id', 'share-b'])];
  const degraded = (l: Record<string, unknown>): boolean => l.kind === 'state' && l.to === 'degraded';
  await Promise.all(runs.map((r) => r.until(degraded)));
  for (const r of runs) r.child.kill('SIGTERM');
  const codes = await Promise.all(runs.map((r) => r.exited));
  for (const [i, r] of runs.entries()) {
    t.true(r.lines.some(degraded), `box ${i} booted: ${JSON.stringify(r.lines.filter((l) => l.kind !== 'scene').slice(-3))}`);
    t.false(r.lines.some((l) => l.kind === 'tuner' && l.ok === false), `box ${i} tuned at once`);
  }
  t.deepEqual(codes, [0, 0]);
});
