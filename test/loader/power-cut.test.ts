// Power-cut safety of the box's storage (issue 13.9): a file system that keeps only what was
// fsynced replays every prefix of the writes; each key holds its old or its new bytes, never an
// empty or torn file, and a box boots from whatever the cut left.
import { createHash } from 'node:crypto';
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { FolderStorage } from '../../loader/index.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { carouselFeed, makeBox, silentTuner } from '../_helpers/box-fixtures.ts';
import { CrashFs, type CutModel, type Image } from '../_helpers/crash-fs.ts';

const engine = await loadEngine();
const keys = await signer();
const DIR = '/flash';
const MB = 1024 * 1024;
const MODELS: CutModel[] = ['synced', 'journaled'];
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));

/** Every state a cut during `work` can leave, as what FolderStorage then reads for `key`. */
function sweep(start: Image, work: (s: FolderStorage) => void, key: string, o: { ignoreSync?: boolean } = {}): Set<string | undefined> {
  const fs = new CrashFs(start, o);
  work(new FolderStorage(DIR, MB, { fs }));
  const seen = new Set<string | undefined>();
  for (const model of MODELS) {
    for (let n = 0; n <= fs.ops.length; n++) {
      const after = new FolderStorage(DIR, MB, { fs: new CrashFs(CrashFs.cut(start, fs.ops, n, model)) });
      seen.add(text(after.read(key)));
    }
  }
  return seen;
}

test('a rewrite cut at any point leaves the old or the new bytes, never empty or torn', (t) => {
  const start: Image = new Map([[`${DIR}/k.guide`, bytes('{"old":1}')]]);
  const seen = sweep(start, (s) => t.true(s.write('k.guide', bytes('{"new":22}'))), 'k.guide');
  t.deepEqual([...seen].sort(), ['{"new":22}', '{"old":1}']);
});

test('a first write cut at any point leaves nothing or the new bytes', (t) => {
  const seen = sweep(new Map(), (s) => t.true(s.write('a.guide', bytes('index'))), 'a.guide');
  t.deepEqual([...seen].sort(), [undefined, 'index'].sort());
});

test('the cut model finds a writer that never fsyncs: its renamed file comes back empty', (t) => {
  // The old storage-fs.ts wrote and renamed without fsync; the same sweep must catch that.
  const start: Image = new Map([[`${DIR}/k.guide`, bytes('{"old":1}')]]);
  const seen = sweep(start, (s) => void s.write('k.guide', bytes('{"new":22}')), 'k.guide', { ignoreSync: true });
  t.true(seen.has(''), 'an empty file after a cut');
});

test('the folder is fsynced after every rename that publishes a key, the file before it', (t) => {
  const fs = new CrashFs();
  const s = new FolderStorage(DIR, MB, { fs });
  s.write('m.one', bytes('1'));
  t.deepEqual(
    fs.ops.map((o) => o.op),
    ['write', 'sync', 'rename', 'syncDir'],
  );
  t.is(s.stats().writes, 1);
});

test('a box updating its cache from v1.0.0 to v1.0.1 boots after a cut at every point, from one version or the other', async (t) => {
  const v1 = await guideApp(keys, { version: '1.0.0' });
  const v2 = await guideApp(keys, { version: '1.0.1' });
  const first = new CrashFs();
  const a = makeBox(engine, keys.trusted, carouselFeed(v1.set).tuner, undefined, { profile: profile('broadcast-only'), storage: new FolderStorage(DIR, 8 * MB, { fs: first }), boxId: 'box-3' });
  await a.box.start();
  await a.box.waitFor((b) => b.state === 'degraded', 10_000);
  await a.box.stop();
  const start = first.image();

  const fs = new CrashFs(start);
  const b = makeBox(engine, keys.trusted, carouselFeed(v2.set).tuner, undefined, { profile: profile('broadcast-only'), storage: new FolderStorage(DIR, 8 * MB, { fs }), boxId: 'box-3' });
  await b.box.start();
  await b.box.waitFor((x) => x.app?.manifest.version === '1.0.1' && x.state === 'degraded', 10_000);
  await b.box.stop();
  t.true(fs.ops.length > 8, `the update wrote to storage (${fs.ops.length} operations)`);

  const versions = new Map<string, number>();
  const seen = new Set<string>();
  for (const model of MODELS) {
    for (let n = 0; n <= fs.ops.length; n++) {
      const image = CrashFs.cut(start, fs.ops, n, model);
      const key = [...image].map(([p, v]) => `${p}:${createHash('sha256').update(v).digest('hex')}`).sort().join('|');
      if (seen.has(key)) continue;
      seen.add(key);
      for (const [p, v] of image) t.true(v.length > 0 || p.endsWith('.tmp'), `${model} cut after ${n}: ${p} is empty`);
      const c = makeBox(engine, keys.trusted, silentTuner, undefined, { profile: profile('broadcast-only'), storage: new FolderStorage(DIR, 8 * MB, { fs: new CrashFs(image) }), boxId: 'box-3' });
      await c.box.start();
      await c.box.waitFor((x) => x.running().includes('ui'), 5000).catch(() => undefined);
      const v = c.box.app?.manifest.version ?? 'none';
      await c.box.stop();
      t.true(v === '1.0.0' || v === '1.0.1', `${model} cut after ${n} operations: the box boots (it ran ${v})`);
      versions.set(v, (versions.get(v) ?? 0) + 1);
    }
  }
  t.true((versions.get('1.0.0') ?? 0) > 0 && (versions.get('1.0.1') ?? 0) > 0, `both versions seen: ${JSON.stringify([...versions])}`);
});
