// Worker threads start from one bundled file, not through tsx (issue 19.3: a thread's boot was
// ~400 ms of CPU, most of it the TypeScript loader): the bundle is made once per process, imports
// packages by absolute file URL and no .ts file, and a thread started from it runs portions.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundledEntry } from '../../headend/portions/worker-bundle.ts';
import { WorkerPool } from '../../headend/portions/worker-pool.ts';
import { serverApp, WorkerUnderTest } from '../security/_portion-worker.ts';

const ENTRY = new URL('../../headend/portions/portion-worker.ts', import.meta.url);

test('the worker entry is bundled once into a plain module that imports no TypeScript', async (t) => {
  const url = await bundledEntry(ENTRY);
  if (url === undefined) return t.fail('no bundle was made');
  t.is(url.protocol, 'data:');
  t.is(await bundledEntry(ENTRY), url, 'the same module for every pool of the process');
  const code = Buffer.from(url.href.slice(url.href.indexOf(',') + 1), 'base64').toString('utf8');
  t.regex(code, /\/\/# sourceURL=weft:portion-worker\.mjs\n$/, 'stack traces name the entry, not the whole URL');
  const imports = [...code.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1] as string);
  t.true(imports.length > 0);
  t.false(imports.some((i) => i.endsWith('.ts')), 'no TypeScript left to load');
  t.true(imports.every((i) => i.startsWith('node:') || i.startsWith('file://')), `packages by absolute URL: ${imports.join(', ')}`);
  t.is(await bundledEntry(new URL('file:///nowhere/x.mjs')), undefined, 'only .ts entries are bundled');
});

test('a pool starts its threads from the bundle, and they run portions', async (t) => {
  const keepAlive = setInterval(() => {}, 60_000); // the pool unrefs its threads
  const pool = new WorkerPool({ entry: ENTRY, spare: 1, max: 1 });
  await pool.warm();
  t.true(pool.bundled);
  await pool.close();
  clearInterval(keepAlive);
  t.false(new WorkerPool({ entry: ENTRY, bundle: false }).bundled);
  const w = await WorkerUnderTest.start();
  try {
    const app = await serverApp('bundled', { m: `weft.on('request', (b) => ({ b }));` });
    t.like(await w.startPortion(app, 's1'), { ok: true });
    t.deepEqual((await w.answer(w.request('bundled', 's1', 'm', 7))).body, { b: 7 });
  } finally {
    await w.close();
  }
});

// D116: the bundle was a file in a temporary directory removed by an exit handler, so every node
// killed without running it (SIGKILL, a crash) left one behind; a crash-looping node filled /tmp.
test('a process killed right after bundling leaves nothing in its temporary directory', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'weft-bundle-kill-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const bundler = new URL('../../headend/portions/worker-bundle.ts', import.meta.url).href;
  const script = `const { bundledEntry } = await import(${JSON.stringify(bundler)});
const u = await bundledEntry(new URL(${JSON.stringify(ENTRY.href)}));
if (u === undefined) process.exit(3);
process.kill(process.pid, 'SIGKILL');`;
  const signal = await new Promise<string | null>((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, TMPDIR: tmp } });
    child.on('exit', (_code, sig) => resolve(sig));
  });
  t.is(signal, 'SIGKILL', 'the child bundled, then was killed');
  // tsx keeps its transform cache there (tsx-<uid>); nothing else may be.
  t.deepEqual(readdirSync(tmp).filter((n) => !n.startsWith('tsx-')), [], 'no bundle file or directory left');
});
