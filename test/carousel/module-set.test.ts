import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ArgumentError } from '../../runtime/index.ts';
import { CarouselError, carouselModules, checkModuleSet, makeModule, moduleSetFromDir, type ModuleSet } from '../../carousel/index.ts';
import { sha256Hex } from '../../carousel/hash.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

test('carouselModules keeps client, mutable, manifest, signature and data; server and peer stay on the head-end', (t) => {
  const kinds = ['client', 'server', 'mutable', 'peer', 'manifest', 'signature', 'data'] as const;
  const set: ModuleSet = { appId: 'guide', version: '1', modules: kinds.map((k) => makeModule(`${k}.js`, k, 'boot', enc(k))) };
  t.deepEqual(
    carouselModules(set).modules.map((m) => m.kind),
    ['client', 'mutable', 'manifest', 'signature', 'data'],
  );
  t.is(set.modules.length, 7, 'the input is not modified');
});

test('checkModuleSet refuses bad ids, kinds, tiers, duplicate names and wrong hashes, naming the field', (t) => {
  const good = (): ModuleSet => ({ appId: 'guide', version: '1', modules: [makeModule('a.js', 'client', 'boot', enc('a'))] });
  t.notThrows(() => checkModuleSet(good()));
  const cases: [string, (s: ModuleSet) => void][] = [
    ['appId', (s) => (s.appId = 'Guide!')],
    ['kind', (s) => ((s.modules[0] as { kind: string }).kind = 'daemon')],
    ['tier', (s) => ((s.modules[0] as { tier: string }).tier = 'fallback-3')],
    ['sha256', (s) => ((s.modules[0] as { sha256: string }).sha256 = sha256Hex(enc('b')))],
    ['name', (s) => s.modules.push(makeModule('a.js', 'client', 'boot', enc('x')))],
    ['name', (s) => ((s.modules[0] as { name: string }).name = 'bad\nname')],
  ];
  for (const [option, spoil] of cases) {
    const s = good();
    spoil(s);
    const e = t.throws(() => checkModuleSet(s), { instanceOf: ArgumentError });
    t.is(e.option, option);
  }
});

async function folder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-carousel-'));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

test('moduleSetFromDir reads a built app: manifest and signature as boot modules, server modules left out', async (t) => {
  const manifest = {
    app: 'guide',
    version: '1.2.0',
    modules: [
      { name: 'ui', kind: 'client', tier: 'boot', file: 'ui.js', sha256: sha256Hex(enc('ui code')) },
      { name: 'search', kind: 'mutable', tier: 'fallback-1', file: 'search.js' },
      { name: 'catalog', kind: 'server', file: 'catalog.js' },
      { name: 'billing', kind: 'peer', file: 'missing-on-purpose.js' },
    ],
  };
  const dir = await folder({ 'manifest.json': JSON.stringify(manifest), 'manifest.sig': 'SIG', 'ui.js': 'ui code', 'search.js': 'search code', 'catalog.js': 'server code' });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const set = await moduleSetFromDir(dir);
  t.is(set.appId, 'guide');
  t.is(set.version, '1.2.0');
  t.deepEqual(
    set.modules.map((m) => [m.name, m.kind, m.tier]),
    [
      ['manifest.json', 'manifest', 'boot'],
      ['manifest.sig', 'signature', 'boot'],
      ['ui', 'client', 'boot'],
      ['search', 'mutable', 'fallback-1'],
    ],
  );
  t.is(new TextDecoder().decode(set.modules[1]?.bytes), 'SIG');
  await t.throwsAsync(moduleSetFromDir(dir, { kinds: 'all' }), { instanceOf: CarouselError, message: /cannot read missing-on-purpose\.js/ });
});

test('moduleSetFromDir refuses a manifest without signature, a wrong hash and a file outside the folder', async (t) => {
  const m = (modules: unknown[]): string => JSON.stringify({ app: 'guide', version: 1, modules });
  const unsigned = await folder({ 'manifest.json': m([]) });
  const badHash = await folder({ 'manifest.json': m([{ name: 'ui', kind: 'client', file: 'ui.js', sha256: sha256Hex(enc('other')) }]), 'manifest.sig': 's', 'ui.js': 'x' });
  const escape = await folder({ 'manifest.json': m([{ name: 'ui', kind: 'client', file: '../etc/passwd' }]), 'manifest.sig': 's' });
  t.teardown(() => Promise.all([unsigned, badHash, escape].map((d) => rm(d, { recursive: true, force: true }))));
  await t.throwsAsync(moduleSetFromDir(unsigned), { instanceOf: CarouselError, message: /manifest\.sig is missing/ });
  t.is((await moduleSetFromDir(unsigned, { requireSignature: false })).modules.length, 1);
  await t.throwsAsync(moduleSetFromDir(badHash), { instanceOf: CarouselError, message: /sha256 does not match/ });
  await t.throwsAsync(moduleSetFromDir(escape), { instanceOf: CarouselError, message: /outside the app folder/ });
  await t.throwsAsync(moduleSetFromDir(join(unsigned, 'nope')), { instanceOf: CarouselError });
});

test('a folder without manifest.json becomes boot-tier data modules, named by relative path', async (t) => {
  const dir = await folder({ 'b.txt': 'B', 'sub/a.bin': 'A' });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const set = await moduleSetFromDir(dir, { appId: 'assets' });
  t.is(set.appId, 'assets');
  t.deepEqual(
    set.modules.map((m) => [m.name, m.kind, m.tier, new TextDecoder().decode(m.bytes)]),
    [
      ['b.txt', 'data', 'boot', 'B'],
      ['sub/a.bin', 'data', 'boot', 'A'],
    ],
  );
});
