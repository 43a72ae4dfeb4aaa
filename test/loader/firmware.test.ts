// The box firmware as a box image would carry it: build.mjs makes dist/firmware/, the folder is
// copied somewhere with no node_modules and no sources, and `node box.mjs` boots from a carousel
// on loopback UDP and sets a session up over MQTT with the head-end responder.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Broadcaster, serveUdp } from '../../carousel/index.ts';
import { importSigningKey, trustedKey } from '../../runtime/app/index.ts';
import { loadEngine } from '../../sandbox/index.ts';
// @ts-expect-error build.mjs is plain JavaScript without type declarations
import { build } from '../../build.mjs';
import { FIRMWARE_NODE_FLAGS } from '../../loader/memory.ts';
import { guideApp } from '../_helpers/box-app.ts';
import { boxBroker, boxSecret, freeUdpPort } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';

const engine = await loadEngine();

interface Line {
  mem?: { heapUsed?: unknown; wasm?: unknown };
  kind?: string;
  to?: string;
  state?: string;
  running?: string[];
  module?: string;
  action?: string;
}

test('dist/firmware runs a box with plain node from a folder of its own', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'weft-fw-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const built = (await build({ out: join(work, 'dist'), keys: join(work, 'keys'), quiet: true })) as { firmware: { bytes: number; budget: number } };
  t.true(built.firmware.bytes <= built.firmware.budget, 'within its size budget');
  t.true(built.firmware.budget <= 250 * 1024, 'the budget is the issue 19 goal, 250 KB');
  // The box speaks MQTT with its own client (transport/mqtt-lite.ts): no mqtt.js, no mqtt-packet.
  const meta = JSON.parse(readFileSync(join(work, 'dist', 'meta', 'firmware.meta.json'), 'utf8')) as { inputs: Record<string, unknown>; outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }> };
  t.deepEqual(Object.keys(meta.inputs).filter((f) => /node_modules\/(mqtt|mqtt-packet|bl|readable-stream)\//.test(f)), []);
  // Its CBOR is runtime/cbor-lite.ts (byte-identical for what Weft encodes), not cbor-x.
  t.deepEqual(Object.keys(meta.inputs).filter((f) => /node_modules\/cbor-x\//.test(f)), []);
  // QuickJS's FFI table is compacted (scripts/firmware-ffi.mjs, D95): ~1.6 KB, not the package's ~6.3 KB.
  const ffi = Object.entries(Object.values(meta.outputs)[0]?.inputs ?? {}).filter(([f]) => /quickjs-wasmfile-release-sync\/dist\/ffi\.mjs$/.test(f));
  t.is(ffi.length, 1);
  t.true((ffi[0]?.[1].bytesInOutput ?? Infinity) < 2000, `the FFI table brings ${ffi[0]?.[1].bytesInOutput} bytes`);

  // The image: the firmware folder alone, far from the repository's node_modules.
  const image = join(work, 'image');
  cpSync(join(work, 'dist', 'firmware'), image, { recursive: true });
  t.deepEqual(readdirSync(image).sort(), ['box.mjs', 'emscripten-module.wasm', 'profiles.json', 'trusted-keys.json']);
  t.false(existsSync(join(image, 'node_modules')));
  t.false(readFileSync(join(image, 'box.mjs'), 'utf8').includes('/work/main/node_modules'), 'no path into the build machine');

  // An app signed with the key the image trusts, on a real broadcaster over loopback UDP.
  const key = await importSigningKey(JSON.parse(readFileSync(join(work, 'keys', 'dev.jwk.json'), 'utf8')));
  const keys = { key, trusted: [await trustedKey(key.publicKey)] };
  const app = await guideApp(keys);
  const broker = await boxBroker();
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted });
  const port = await freeUdpPort();
  const air = await serveUdp(new Broadcaster(app.set, { bitrate: 2_000_000, diiIntervalMs: 100 }), { unicast: { host: '127.0.0.1', port } });
  t.teardown(async () => {
    await air.close();
    await he.close();
    await broker.close();
  });

  const child = spawn(
    process.execPath,
    [...FIRMWARE_NODE_FLAGS, 'box.mjs', '--device', 'modern-4k', '--headend', broker.url, '--carousel', `udp://127.0.0.1:${port}`, '--id', 'box-1', '--exit-on', 'up'],
    { cwd: image, env: { PATH: process.env.PATH ?? '', WEFT_BOX_PASSWORD: boxSecret('box-1') }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (c) => {
      clearTimeout(kill);
      resolve(c);
    });
  });
  t.is(code, 0, `${err}\n${out}`);
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Line);
  t.deepEqual(
    lines.filter((l) => l.kind === 'state').map((l) => l.to),
    ['tuning', 'acquiring-boot', 'starting', 'connecting', 'session-setup', 'up', 'stopped'],
  );
  const exit = lines.find((l) => l.kind === 'exit');
  t.deepEqual(exit?.running?.sort(), ['listings', 'search', 'ui']);
  t.is(typeof exit?.mem?.heapUsed, 'number', 'where the memory goes, on the exit line');
  t.true(Number(exit?.mem?.wasm) >= 16, 'the QuickJS wasm memory (16 MiB at least)');
  t.is(he.opens[0]?.boxId, 'box-1');
  t.deepEqual(he.gets.map((g) => g.module).sort(), ['listings', 'search']);
  t.is(he.started.length, 1);
});
