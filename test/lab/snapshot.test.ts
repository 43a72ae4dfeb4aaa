// The firmware's V8 startup snapshot, natively (the qemu-user path is in arm64.test.ts): built from
// the box-snapshot.cjs build.mjs writes, cached under a name that changes with what it was made
// from, and a box started from it boots to `up` against the embedded head-end like box.mjs does
// (the snapshot bundle has no import.meta, no dynamic import, and no WebAssembly while it is built).
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { bootOnce } from '../../devices/lab/boot.ts';
import { ensureSnapshot, pruneSnapshots, SNAPSHOTS_KEPT, snapshotEntry, snapshotName } from '../../devices/lab/snapshot.ts';
import { withStage } from '../../devices/lab/stage.ts';

test('a box started from the snapshot boots to up, and the snapshot is made once per firmware', async (t) => {
  t.timeout(120_000);
  const cache = mkdtempSync(join(tmpdir(), 'weft-lab-snap-'));
  t.teardown(() => rmSync(cache, { recursive: true, force: true }));
  const log: string[] = [];
  await withStage(async (stage) => {
    const first = await ensureSnapshot({ firmware: stage.firmware, cache, log: (l) => log.push(l) });
    t.true(first.built, 'made now');
    const again = await ensureSnapshot({ firmware: stage.firmware, cache, log: (l) => log.push(l) });
    t.deepEqual([again.built, again.blob], [false, first.blob], 'found in the cache the second time');
    const r = await bootOnce({ ...stage.spec('hd-dvr', 'snap-box', { timeoutMs: 60_000 }), snapshot: first.blob });
    t.true(r.reached, `from the snapshot: ${r.state}; ${r.notes.join('; ')}`);
    t.deepEqual(r.phases[0]?.state, 'tuning');
    t.true((r.cpuMs ?? 0) > 0, 'the exit line carries the CPU time');
  });
});

test('the cache name changes with the bundle and the Node that runs it', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'weft-lab-snapname-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'firmware');
  mkdirSync(join(root, 'snapshot'), { recursive: true });
  const entry = snapshotEntry(dir);
  writeFileSync(entry, 'one');
  const node = join(root, 'node');
  copyFileSync(process.execPath, node);
  const a = await snapshotName(dir, node, 'arm64');
  t.regex(a, /^box-arm64-host-[0-9a-f]{16}\.blob$/);
  t.not(await snapshotName(dir, node, 'arm64', 'cortex-a53'), a, 'another CPU model, another snapshot');
  t.is(await snapshotName(dir, node, 'arm64'), a, 'stable');
  writeFileSync(entry, 'two');
  t.not(await snapshotName(dir, node, 'arm64'), a, 'another bundle, another snapshot');
  writeFileSync(entry, 'one');
  t.not(await snapshotName(dir, process.execPath, 'arm64'), a, 'another Node, another snapshot');
  rmSync(entry);
  await t.throwsAsync(snapshotName(dir, node, 'arm64'), { message: /no .*box-snapshot\.cjs: build the firmware again \(npm run build\)/ });
});

test('the cache keeps only the newest snapshots', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-lab-snapprune-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const names = Array.from({ length: SNAPSHOTS_KEPT + 3 }, (_, i) => `box-arm64-max-${String(i).padStart(16, '0')}.blob`);
  names.forEach((n, i) => {
    writeFileSync(join(dir, n), 'x');
    utimesSync(join(dir, n), 1000 + i, 1000 + i); // blob i made at second 1000 + i
  });
  writeFileSync(join(dir, 'notes.txt'), 'not a blob');
  t.deepEqual((await pruneSnapshots(dir)).sort(), names.slice(0, 3), 'the three oldest go');
  t.deepEqual(readdirSync(dir).sort(), [...names.slice(3), 'notes.txt'].sort());
});
