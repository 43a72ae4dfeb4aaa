// `weft lab` mistakes as a user types them: one line on stderr naming what is wrong, exit 1, no
// stack, and nothing fetched, installed or made before the options are checked.
import { spawn } from 'node:child_process';
import test from 'ava';

const ROOT = new URL('../../', import.meta.url).pathname;

function weft(args: string[]): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(kill);
      resolve({ code, err });
    });
  });
}

for (const [args, message] of [
  [['lab', 'arm64', '--runs', '0', '--no-install'], /--runs must be an integer in 1\.\.50/],
  [['lab', 'arm64', '--profile', 'vhs', '--no-install'], /unknown device profile "vhs"/],
  [['lab', 'vm', '--mem', '10', '--no-install'], /--mem must be an integer in 64\.\.8192/],
  [['lab', 'plant', '--boxes', '0', '--no-install'], /--boxes must be an integer in 1\.\.16/],
  [['lab', 'plant', '--profile', 'broadcast-only', '--no-install'], /has no return channel/],
  [['lab', 'plant', '--timeout', 'soon', '--no-install'], /--timeout must be in 1\.\.600 s/],
] as const) {
  test(`weft ${args.join(' ')}: one line`, async (t) => {
    const r = await weft([...args]);
    t.is(r.code, 1, r.err);
    const lines = r.err.trim().split('\n').filter((l) => !l.startsWith('weft lab: note:'));
    t.is(lines.length, 1, r.err);
    t.regex(lines[0] ?? '', message);
    t.false(r.err.includes('    at '), 'no stack');
  });
}
