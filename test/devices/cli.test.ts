// `weft box run` and `weft fleet run` as a user types them: real processes, a carousel on
// loopback UDP, a trusted-key file; their JSON lines show the boxes booting.
import { spawn } from 'node:child_process';
import test from 'ava';
import { onAir } from '../_helpers/on-air.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

function weft(args: string[]): Promise<{ code: number | null; lines: Record<string, unknown>[]; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(kill);
      const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, lines, err });
    });
  });
}


test('weft box run: a broadcast-only box boots from the carousel and runs degraded', async (t) => {
  const { port, trust } = await onAir(t);
  const r = await weft(['box', 'run', '--device', 'broadcast-only', '--carousel', `udp://127.0.0.1:${port}`, '--trust', trust, '--id', 'cli-box', '--exit-on', 'degraded', '--timeout', '120']);
  t.is(r.code, 0, r.err);
  const states = r.lines.filter((l) => l.kind === 'state').map((l) => l.to);
  t.true(states.includes('degraded'), JSON.stringify(states));
  t.true(r.lines.some((l) => l.kind === 'scene' && l.module === 'ui'));
  t.like(r.lines.at(-1), { kind: 'stopped', box: 'cli-box' });
});

test('weft fleet run: two boxes share the carousel and report their states', async (t) => {
  const { port, trust } = await onAir(t);
  const r = await weft(['fleet', 'run', '--count', '2', '--mix', 'broadcast-only:1', '--carousel', `udp://127.0.0.1:${port}`, '--trust', trust, '--exit-on', 'degraded', '--timeout', '120']);
  t.is(r.code, 0, r.err);
  const last = r.lines.at(-1) as { event?: string; states?: Record<string, number>; requests?: unknown };
  t.is(last.event, 'stopped');
  t.is(last.states?.degraded, 2);
  // [13.8] the fleet summary counts what became of every request (none here: no head-end).
  t.deepEqual(last.requests, { sent: 0, ok: 0, retried: 0, failed: 0, overdue: 0 });
});
