// bench/_lifeprof.mjs + _lifeprof-parent.ts: a child the bench kills at its end (rollout's
// head-end and fleets) still leaves a whole-life CPU profile, written on SIGUSR2, and the
// bench's exit waits for it (a zombie child, which no loop reaps there, counts as exited).
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { collectLifeProfiles, lifeProfArgs } from '../../bench/_lifeprof-parent.ts';

test('a profiled child writes its profile on SIGUSR2 and exits; the collector waits for it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-lifeprof-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const before = process.env.WEFT_PROF_DIR;
  t.teardown(() => (before === undefined ? delete process.env.WEFT_PROF_DIR : (process.env.WEFT_PROF_DIR = before)));
  const args = lifeProfArgs(dir);
  t.is(process.env.WEFT_PROF_DIR, dir);
  // Busy for a moment so the profile has samples, then says it is ready and idles until killed.
  const child = spawn(process.execPath, [...args, '-e', 'let x = 0; for (let i = 0; i < 3e7; i++) x += i; console.log("ready", x > 0); setInterval(() => {}, 1000);'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [first] = (await once(child.stdout, 'data')) as [Buffer];
  t.regex(first.toString(), /ready true/);
  collectLifeProfiles([child], 30_000);
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  t.is(files.length, 1, `profiles: ${files.join(', ')}`);
  const profile = JSON.parse(readFileSync(join(dir, files[0] as string), 'utf8')) as { nodes: unknown[]; samples: number[] };
  t.true(profile.nodes.length > 1 && profile.samples.length > 0);
  const [code] = (await once(child, 'exit')) as [number | null];
  t.is(code, 0);
});

test('no directory: no arguments, no profiling', (t) => {
  t.deepEqual(lifeProfArgs(''), []);
});
