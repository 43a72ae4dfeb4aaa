import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { Broadcaster, carouselModules, moduleSetFromDir } from '../../carousel/index.ts';
import { needProgram } from '../_helpers/env.ts';
import { randomBytes } from './_app.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const PREFS = ['-o', 'mpeg_dsmcc.verify_crc:TRUE', '-o', 'mpeg_sect.verify_crc:TRUE'];

async function appFolder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-tshark-'));
  const files: Record<string, Uint8Array> = {
    'ui.js': randomBytes(9000, 1),
    'keys.js': randomBytes(300, 2),
    'search.js': randomBytes(20000, 3),
    'epg.js': randomBytes(15000, 4),
    'catalog.js': randomBytes(5000, 5),
    'history.js': randomBytes(700, 6),
  };
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
  const manifest = {
    app: 'guide',
    version: '3.0.0',
    modules: [
      { name: 'ui', kind: 'client', tier: 'boot', file: 'ui.js' },
      { name: 'keys', kind: 'client', tier: 'boot', file: 'keys.js' },
      { name: 'search', kind: 'mutable', tier: 'fallback-1', file: 'search.js' },
      { name: 'epg', kind: 'client', tier: 'fallback-2', file: 'epg.js' },
      { name: 'catalog', kind: 'server', file: 'catalog.js' },
      { name: 'history', kind: 'peer', file: 'history.js' },
    ],
  };
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
  await writeFile(join(dir, 'manifest.sig'), randomBytes(64, 7));
  return dir;
}

/** tshark -T fields: one row per frame, multi-valued fields split on commas. */
async function fields(file: string, names: string[], filter: string): Promise<string[][][]> {
  const args = ['-r', file, ...PREFS, '-Y', filter, '-T', 'fields', ...names.flatMap((n) => ['-e', n])];
  const { stdout } = await run('tshark', args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.split('\t').map((v) => (v === '' ? [] : v.split(','))));
}

test('tshark decodes the DII and DDB fields of `weft carousel dump` and finds no CC or CRC errors', async (t) => {
  if (needProgram(t, 'tshark', 'checks that real analyzers accept the carousel') === undefined) return;
  const dir = await appFolder();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'carousel.ts');
  const cli = await run(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), 'carousel', 'dump', dir, '--out', out], { cwd: root });
  t.regex(cli.stdout, /wrote .*carousel\.ts: \d+ TS packets/);

  const desc = new Broadcaster(carouselModules(await moduleSetFromDir(dir))).describe();
  const modules = desc.groups.flatMap((g) => g.modules);
  t.deepEqual(modules.filter((m) => !m.fec).map((m) => m.name).sort(), ['keys', 'manifest.json', 'manifest.sig', 'search', 'epg', 'ui'].sort(), 'server and peer modules are not on the air');

  // DII: module id, size and version of every module (repair modules included), block size, transactionIds.
  const dii = await fields(out, ['mpeg_dsmcc.dii.module_id', 'mpeg_dsmcc.dii.module_size', 'mpeg_dsmcc.dii.module_version', 'mpeg_dsmcc.dii.block_size', 'mpeg_dsmcc.transaction_id', 'mpeg_dsmcc.dii.download_id'], 'mpeg_dsmcc.dii.module_id');
  const seen = new Set<string>();
  const txids = new Set<number>();
  for (const [ids = [], sizes = [], versions = [], blockSizes = [], tx = [], dl = []] of dii) {
    ids.forEach((id, i) => seen.add(`${Number(id)}/${Number(sizes[i])}/${Number(versions[i])}`));
    for (const b of blockSizes) t.is(Number(b), 4066);
    for (const x of tx) txids.add(Number(x));
    for (const d of dl) t.is(Number(d), desc.downloadId);
  }
  t.deepEqual([...seen].sort(), modules.map((m) => `${m.id}/${m.size}/${m.version}`).sort());
  for (const g of desc.groups) t.true(txids.has(g.transactionId), `DII 0x${g.transactionId.toString(16)}`);
  // tshark 4.0 names the DSI but does not dissect its body: check its section header instead.
  const dsi = await fields(out, ['mpeg_sect.table_id', 'mpeg_dsmcc.table_id_extension'], 'mpeg_dsmcc.table_id_extension == 0');
  t.true(dsi.length > 0);
  for (const [tid = []] of dsi) t.true(tid.includes('0x3b'));

  // DDB: every block of every module, by module id, version and block number.
  const ddb = await fields(out, ['mpeg_dsmcc.ddb.module_id', 'mpeg_dsmcc.ddb.version', 'mpeg_dsmcc.ddb.block_num'], 'mpeg_dsmcc.ddb.module_id');
  const blocks = new Set<string>();
  for (const [ids = [], versions = [], nums = []] of ddb) ids.forEach((id, i) => blocks.add(`${Number(id)}/${Number(versions[i])}/${Number(nums[i])}`));
  const want = modules.flatMap((m) => Array.from({ length: Math.ceil(m.size / 4066) }, (_, b) => `${m.id}/${m.version}/${b}`));
  t.deepEqual([...blocks].sort(), want.sort());

  // The analyzer's own verdict: no continuity-counter drops, no CRC failures, nothing malformed.
  const expert = await run('tshark', ['-r', out, ...PREFS, '-q', '-z', 'expert'], { maxBuffer: 16 * 1024 * 1024 });
  t.notRegex(expert.stdout, /Errors \(|Warns \(/, expert.stdout);
  const cc = await fields(out, ['mp2t.cc.drop'], 'mp2t.cc.drop');
  t.is(cc.length, 0);

  // Control: the same check does see damage, so a clean result above means something.
  const bytes = await readFile(out);
  const broken = Buffer.concat([bytes.subarray(0, 188 * 30), bytes.subarray(188 * 31)]);
  broken[188 * 40 + 100] = (broken[188 * 40 + 100] as number) ^ 0xff;
  const bad = join(dir, 'broken.ts');
  await writeFile(bad, broken);
  const verdict = await run('tshark', ['-r', bad, ...PREFS, '-q', '-z', 'expert'], { maxBuffer: 16 * 1024 * 1024 });
  t.regex(verdict.stdout, /missing TS frames/);
  t.regex(verdict.stdout, /Invalid CRC|Malformed/);
});
