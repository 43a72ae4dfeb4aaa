// [issue 18.6] The firmware reads QuickJS's wasm (and hands it to V8's compiler) before it reads
// its trusted keys, so the compile runs beside the arguments, the profile and the keys instead of
// after them. Observed from outside on the built image: the wasm and the key file are FIFOs, and a
// FIFO's reader shows when a writer probes it; each is fed only once the order is seen, so the
// test waits on events, never on time.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, copyFileSync, createWriteStream, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
// @ts-expect-error build.mjs is plain JavaScript without type declarations
import { build } from '../../build.mjs';
import { FIRMWARE_NODE_FLAGS } from '../../loader/memory.ts';
import { freeUdpPort } from '../_helpers/box-fixtures.ts';
import { until } from '../_helpers/mqtt-fixtures.ts';

/** A writer's fd on `fifo` when a reader has it open (or waits in open), else undefined. */
function probe(fifo: string): number | undefined {
  try {
    return openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENXIO') return undefined;
    throw e;
  }
}

/** Feed `bytes` to the reader of `fifo`, whose probe fd `held` keeps it from seeing an early end. */
async function feed(fifo: string, held: number, bytes: Uint8Array): Promise<void> {
  const out = createWriteStream(fifo);
  await new Promise<void>((r, j) => out.once('open', () => r()).once('error', j));
  closeSync(held);
  await new Promise<void>((r, j) => out.end(bytes, () => r()).once('error', j));
}

test('the built firmware opens its wasm before its trusted keys, and boots', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'weft-fw-order-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  await build({ out: join(work, 'dist'), keys: join(work, 'keys'), quiet: true });
  const fw = join(work, 'dist', 'firmware');
  const image = join(work, 'image');
  execFileSync('mkdir', [image]);
  for (const f of ['box.mjs', 'profiles.json']) copyFileSync(join(fw, f), join(image, f));
  const wasm = join(image, 'emscripten-module.wasm');
  const keys = join(image, 'keys.json');
  execFileSync('mkfifo', [wasm, keys]);

  const port = await freeUdpPort();
  const args = [...FIRMWARE_NODE_FLAGS, 'box.mjs', '--device', 'legacy-sd', '--trust', 'keys.json', '--carousel', `udp://127.0.0.1:${port}`, '--exit-on', 'tuning'];
  const c = spawn(process.execPath, args, { cwd: image, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void c.kill('SIGKILL'));
  let out = '';
  let err = '';
  c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));

  // The firmware blocks in its first read of a FIFO until it is fed: which one it opened first
  // is the only one with a reader.
  let first: { fifo: string; fd: number } | undefined;
  await until(() => {
    for (const fifo of [wasm, keys]) {
      const fd = probe(fifo);
      if (fd !== undefined) first ??= { fifo, fd };
    }
    return first !== undefined;
  }, 20_000, 'the firmware to open one of its FIFOs');
  // Before: it read the keys first and the engine's wasm only after them.
  t.is(first?.fifo, wasm, 'the wasm is read before the keys');
  t.is(probe(keys), undefined, 'the keys are not opened while the wasm read is under way');
  if (first?.fifo !== wasm) return;
  await feed(wasm, first.fd, readFileSync(join(fw, 'emscripten-module.wasm')));

  let keysFd: number | undefined;
  await until(() => (keysFd = probe(keys)) !== undefined, 20_000, 'the firmware to open its keys');
  await feed(keys, keysFd as number, readFileSync(join(fw, 'trusted-keys.json')));
  t.is(await exited, 0, err);
  t.regex(out, /"kind":"exit","state":"tuning"/);
});
