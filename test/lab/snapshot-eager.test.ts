// The firmware's startup snapshot holds the bytecode of every firmware function (build.mjs
// eagerSnapshotScript, issue 18 build 6): a box started from it compiles none of the firmware's own
// functions, where the plain bundle had each first call parse and compile (under TCG, ~0.2-0.3 s
// of a warm boot's CPU). V8's function-event log says which functions were compiled after start.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { FIRMWARE_NODE_FLAGS } from '../../loader/memory.ts';
// @ts-expect-error build.mjs is plain JavaScript without type declarations
import { build, eagerSnapshotScript } from '../../build.mjs';

const run = promisify(execFile);

interface Compiled {
  /** Functions of firmware scripts (not node:) compiled after the snapshot was deserialized. */
  compiled: string[];
  /** Firmware functions run for the first time: the log saw the firmware at work. */
  ran: number;
}

/** Build a snapshot from `script`, start it with `args`, and read V8's function events of the start. */
async function startLog(dir: string, script: string, args: string[]): Promise<Compiled> {
  const log = join(dir, 'v8.log');
  // The log flags go to the build and the start alike: a snapshot runs only under its build's flags.
  const flags = [...FIRMWARE_NODE_FLAGS, '--log-function-events', `--logfile=${log}`, '--no-logfile-per-isolate'];
  const blob = join(dir, 'box.blob');
  await run(process.execPath, [...flags, '--snapshot-blob', blob, '--build-snapshot', script], { cwd: dir });
  await run(process.execPath, [...flags, '--snapshot-blob', blob, ...args], { cwd: dir });
  const lines = readFileSync(log, 'utf8').split('\n').map((l) => l.split(','));
  const internal = new Set(lines.filter((f) => f[0] === 'script-details' && f[2]?.startsWith('node:')).map((f) => f[1]));
  const ours = (f: string[]): boolean => f[0] === 'function' && !internal.has(f[2]);
  return {
    compiled: lines.filter((f) => ours(f) && (f[1] === 'interpreter' || f[1] === 'parse-function')).map((f) => `${f[1]} ${f[7] ?? ''}@${f[3] ?? ''}`),
    ran: lines.filter((f) => ours(f) && f[1] === 'first-execution').length,
  };
}

test('a box started from the firmware snapshot compiles none of its own functions', async (t) => {
  t.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'weft-snap-eager-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await build({ out: join(dir, 'dist'), keys: join(dir, 'keys'), quiet: true, apps: ['guide'] });
  // --help: the snapshot's main runs the argument parser and prints the flags (no head-end needed).
  const r = await startLog(dir, join(dir, 'dist', 'snapshot', 'box-snapshot.cjs'), [join(dir, 'dist', 'firmware', 'box.mjs'), '--help']);
  t.true(r.ran > 0, 'the firmware ran (its first executions are in the log)');
  t.deepEqual(r.compiled, [], 'no firmware function compiled after the start');
});

test('the eager script compiles a bundle in full, and the bundle alone does not', async (t) => {
  t.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'weft-snap-eager-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bundle = `function later(x) { return [x, x * 2].map((y) => y + 1); }
require('node:v8').startupSnapshot.setDeserializeMainFunction(() => { process.exitCode = later(1)[1] === 3 ? 0 : 1; });`;
  writeFileSync(join(dir, 'plain.cjs'), bundle);
  writeFileSync(join(dir, 'eager.cjs'), eagerSnapshotScript(bundle) as string);
  const plain = await startLog(dir, join(dir, 'plain.cjs'), []);
  t.true(plain.compiled.some((c) => c.startsWith('interpreter later')), `the plain bundle compiles later() at its first call: ${plain.compiled.join(', ')}`);
  const eager = await startLog(dir, join(dir, 'eager.cjs'), []);
  t.deepEqual(eager.compiled, [], 'nothing compiled after the start');
  t.true(eager.ran >= 2, 'later() and its arrow ran');
});
