// Docs as tests (issue 17): every command in README.md's tables runs here as written, on a fresh
// build, each bounded: long-running ones until they show they work (a ready line, a box state),
// with the values a user would paste in for the placeholders. A command added to the README
// without a check here fails the first test.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { needProgram, which } from '../_helpers/env.ts';
import { startRedis } from '../_helpers/redis.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const run = promisify(execFile);

/** The commands of README.md's tables: each row's first cell, and commands quoted in the second. */
export function readmeCommands(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('| `')) continue;
    for (const m of line.matchAll(/`((?:npm|npx|node|weft) [^`]+)`/g)) out.push((m[1] as string).trim());
  }
  return out;
}

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** How each README command is checked below (the keys are the README's exact text). */
const CHECKED: Record<string, string> = {
  'npm run check': 'typecheck and lint run here; the tests are this run',
  'npm run bench -- <name>': 'every name the README lists has a bench; an unknown name is refused with the list',
  'npm run build': 'run as written',
  'npx weft headend up': 'run as written until ready, then the commands below use it',
  'npx weft headend node --broker mqtt://... --registry redis://...': "the up head-end's broker, a redis-server, the cluster key from the environment",
  'npx weft box run --device legacy-sd --headend mqtt://...': "the up head-end's broker, until the box is up",
  'weft fleet run --count 6 --mix legacy-sd:2,modern-4k:1': 'carousel only, until every box runs degraded',
  'node dist/firmware/box.mjs --device <profile> --headend <url>': "legacy-sd, the up head-end's broker, until the box is up",
  'npx weft app publish dist/apps/guide --headend <console url> --token <token>': "the up head-end's console and token",
  'weft app list|status|promote|halt|rollback': 'covered by test/cli/app.test.ts',
  'npx weft headend drain <node> --headend <console url> --token <token>': "node-2 (the Redis node below), through its console and the token its ready line prints, with --wait: node-2's process exits",
  'npx weft carousel dump dist/apps/guide --out guide.ts': 'run as written; the file is whole TS packets',
};

test('every README table command has a check here', (t) => {
  const found = readmeCommands(readme);
  t.true(found.length >= 8);
  for (const c of found) t.true(c in CHECKED, `README command without a check in test/docs/readme.test.ts: ${c}`);
});

// Process groups still running: ended with this process too, so a test killed on a timeout (its
// teardowns never run) leaves no head-end holding port 1883 for the next test.
const groups = new Set<number>();
const endGroups = (): void => {
  for (const g of groups) {
    try {
      process.kill(-g, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
};
process.once('exit', endGroups);
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => (endGroups(), process.exit(1)));

/** Spawn a long-running command; resolve with the first stdout line matching `ready` (JSON lines). */
function until(t: ExecutionContext, cmd: string, args: string[], ready: (line: string) => boolean, env: NodeJS.ProcessEnv = process.env): Promise<{ child: ChildProcess; line: string }> {
  // Its own process group: npx runs the command as a child, and both must end with the test.
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
  if (child.pid !== undefined) groups.add(child.pid);
  child.once('exit', () => child.pid !== undefined && groups.delete(child.pid));
  t.teardown(() => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (ready(line)) resolve({ child, line });
      }
    });
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => reject(new Error(`${cmd} ${args.join(' ')} exited ${code} before it was ready:\n${err.slice(-2000)}`)));
  });
}

const sh = (command: string, env: NodeJS.ProcessEnv = process.env) => run('sh', ['-c', command], { cwd: ROOT, env, maxBuffer: 64 * 1024 * 1024 });

test.serial('the README commands work as written', async (t) => {
  // npm run build, as written.
  await sh('npm run build');
  t.true(existsSync(`${ROOT}dist/firmware/box.mjs`) && existsSync(`${ROOT}dist/apps/guide/manifest.sig`));

  // npx weft headend up, as written: ready, with its broker, console and token.
  const up = await until(t, 'npx', ['weft', 'headend', 'up'], (l) => l.includes('"event":"ready"'));
  const ready = JSON.parse(up.line) as { broker: string; console: string; consoleToken: string };
  t.is(ready.broker, 'mqtt://127.0.0.1:1883');

  // npx weft box run --device legacy-sd --headend mqtt://... (bounded: until up).
  await sh(`npx weft box run --device legacy-sd --headend ${ready.broker} --exit-on up --timeout 120`);

  // node dist/firmware/box.mjs --device <profile> --headend <url>, with the lab's derived secret.
  await sh(`node dist/firmware/box.mjs --device legacy-sd --headend ${ready.broker} --id readme-fw --password="$(npx weft box secret readme-fw)" --exit-on up`);

  // weft fleet run --count 6 --mix legacy-sd:2,modern-4k:1 (carousel only: the boxes run degraded).
  const fleet = await sh('npx weft fleet run --count 6 --mix legacy-sd:2,modern-4k:1 --exit-on degraded --timeout 300');
  t.regex(fleet.stdout, /"event":"stopped","states":\{"degraded":6\}/);

  // npx weft app publish dist/apps/guide --headend <console url> --token <token>.
  const pub = await sh(`npx weft app publish dist/apps/guide --headend ${ready.console} --token ${ready.consoleToken}`);
  t.regex(pub.stdout, /published guide \d+\.\d+\.\d+: live \(already published \(same bytes\)\)/);

  // npx weft carousel dump dist/apps/guide --out guide.ts.
  try {
    await sh('npx weft carousel dump dist/apps/guide --out guide.ts');
    const size = statSync(`${ROOT}guide.ts`).size;
    t.true(size > 0 && size % 188 === 0, `${size} bytes of whole TS packets`);
  } finally {
    rmSync(`${ROOT}guide.ts`, { force: true });
  }

  // npx weft headend node --broker mqtt://... --registry redis://... joining the up head-end's broker.
  const redis = which('redis-server');
  if (redis === undefined) return void needProgram(t, 'redis-server', 'the README runs a node on Redis');
  const server = await startRedis(redis);
  t.teardown(() => server.stop());
  const env = { ...process.env, WEFT_CLUSTER_KEY: 'readme-cluster-key-0123456789' };
  const node2 = await until(t, 'npx', ['weft', 'headend', 'node', '--broker', ready.broker, '--registry', server.url, '--node', 'node-2'], (l) => l.includes('"event":"ready"'), env);

  // npx weft headend drain <node> --headend <console url> --token <token>: node-2 drains, leaves and its process ends.
  const n2 = JSON.parse(node2.line) as { console: string; consoleToken?: string };
  const token = n2.consoleToken ?? process.env.WEFT_CONSOLE_TOKEN; // printed only when the node made it up
  const exited = new Promise<number | null>((resolve) => node2.child.once('exit', resolve));
  const drained = await sh(`npx weft headend drain node-2 --headend ${n2.console} --token ${token ?? ''} --wait --timeout 120`);
  t.regex(drained.stdout, /^drain started: node-2/m);
  t.regex(drained.stdout, /node-2: left/);
  t.is(await exited, 0, "node-2's process ended by itself once it left");
});

test('npm run check: its typecheck and lint run (its tests are this run)', async (t) => {
  await sh('npm run -s typecheck');
  await sh('npm run -s lint');
  t.pass();
});

test('npm run bench -- <name>: every listed name is a bench, and an unknown one is refused with the list', async (t) => {
  const listed = /a benchmark under bench\/ \(([^)]+)\)/.exec(readme)?.[1]?.split(',').map((s) => s.trim()) ?? [];
  t.true(listed.length >= 8);
  for (const name of listed) t.true(existsSync(`${ROOT}bench/${name}.ts`), `bench/${name}.ts`);
  const r = await sh('npm run -s bench -- nope').catch((e: { code: number; stderr: string }) => e);
  t.is((r as { code: number }).code, 2);
  t.regex((r as { stderr: string }).stderr, /^usage: npm run bench -- <.*protocol.*>/);
});
