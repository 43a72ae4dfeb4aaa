// [issue 13, finding 6] `weft box run` whose tuner cannot tune: it says so in one line, keeps
// retrying, and SIGTERM ends it cleanly while it is still `tuning` (before: no event, signals
// ignored, an unhandled error with minified source after 60 s).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { trustedKeyToJson } from '../../runtime/app/index.ts';
import { signer } from '../_helpers/box-app.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

test('weft box run with a carousel it cannot tune: a one-line tuner event, retries, and SIGTERM ends it', async (t) => {
  const keys = await signer();
  const dir = mkdtempSync(join(tmpdir(), 'weft-tuner-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const trust = join(dir, 'trusted.json');
  writeFileSync(trust, JSON.stringify(keys.trusted.map(trustedKeyToJson)));
  // 203.0.113.77 (TEST-NET-3) is no address of this host: the bind fails with EADDRNOTAVAIL.
  const args = ['--import', 'tsx', 'cli/main.ts', 'box', 'run', '--device', 'broadcast-only', '--carousel', 'udp://203.0.113.77:5500', '--trust', trust, '--id', 'tuner-box'];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const failed = new Promise<void>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (/"kind":"tuner","ok":false/.test(out)) resolve();
    });
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await Promise.race([failed, exited]);
  child.kill('SIGTERM');
  const code = await exited;
  clearTimeout(kill);
  const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const tuner = lines.find((l) => l.kind === 'tuner') as { message?: string } | undefined;
  t.regex(tuner?.message ?? '', /^tuner udp:\/\/203\.0\.113\.77:5500: bind EADDRNOTAVAIL: /, out);
  t.is(code, 0, err);
  t.like(lines.at(-1), { kind: 'stopped', box: 'tuner-box' });
  t.false(/\n\s+at /.test(err), `no stack on stderr: ${err.slice(0, 300)}`);
});
