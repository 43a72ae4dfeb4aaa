// apps/guide end to end: build.mjs builds and signs it, the box verifies it with the dev key,
// and its three modules run in sandboxes wired by runtime Channels: ui on the box, epg on the
// head-end, search wherever the placement rule puts it; then search moves with its state.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ManualClock } from '../../runtime/index.ts';
import { decodeManifest, placeModules, trustedKeyFromJson, verifyApp, type VerifiedApp } from '../../runtime/app/index.ts';
import { AppSandbox, loadEngine, type ModuleSandbox } from '../../sandbox/index.ts';
import { Net, settle } from '../sandbox/_net.ts';

const run = promisify(execFile);
const engine = await loadEngine();
const root = new URL('../../', import.meta.url).pathname;
const work = await mkdtemp(join(tmpdir(), 'weft-guide-'));
const out = join(work, 'dist');
const keys = join(work, 'keys');
test.after.always(() => rm(work, { recursive: true, force: true }));

const built = run(process.execPath, [join(root, 'build.mjs'), '--out', out, '--keys', keys], { cwd: root });

async function files(): Promise<{ manifest: Uint8Array; signature: Uint8Array; modules: Map<string, Uint8Array> }> {
  await built;
  const dir = join(out, 'apps', 'guide');
  const manifest = await readFile(join(dir, 'manifest.json'));
  const modules = new Map<string, Uint8Array>();
  for (const m of decodeManifest(manifest).modules) modules.set(m.name, await readFile(join(dir, m.file)));
  return { manifest, signature: await readFile(join(dir, 'manifest.sig')), modules };
}

async function devKey() {
  return trustedKeyFromJson(JSON.parse(await readFile(join(keys, 'dev.pub.json'), 'utf8')));
}

const TITLES = ['Morning News', 'Nature Hour', 'Cooking Live', 'News at Noon', 'Film: The Long Road', 'Kids Club', 'Evening News', 'Late Film: Night Train'];
const LISTINGS = TITLES.map((title, i) => ({ id: `p${i}`, channel: 1 + (i % 3), title, start: 360 + i * 90, duration: 60, genre: title.includes('News') ? 'news' : title.includes('Film') ? 'film' : 'general' }));

test('build.mjs writes each module, a manifest with the carousel fields, a signature and metafiles', async (t) => {
  const { stdout } = await built;
  t.regex(stdout, /generated a dev signing key [0-9a-f]{16}/);
  t.regex(stdout, /guide\s+search\s+mutable\s+fallback-1\s+\d+/);
  const f = await files();
  const m = decodeManifest(f.manifest);
  t.is(m.app, 'guide');
  t.deepEqual(
    m.modules.map((x) => [x.name, x.kind, x.tier, x.file]),
    [
      ['ui', 'client', 'boot', 'ui.js'],
      ['search', 'mutable', 'fallback-1', 'search.js'],
      ['epg', 'peer', 'boot', 'epg.js'],
    ],
  );
  for (const e of m.modules) t.is(f.modules.get(e.name)?.length, e.size);
  const meta = JSON.parse(await readFile(join(out, 'meta', 'guide', 'search.meta.json'), 'utf8'));
  t.truthy(meta.inputs['apps/guide/search.ts'] ?? Object.keys(meta.inputs).find((k) => k.endsWith('search.ts')));
  t.false(new TextDecoder().decode(f.modules.get('search')).includes('\n  '), 'minified');
  t.true((await verifyApp({ ...f, trusted: [await devKey()] })).ok);
  // A second build reuses the dev key: sideloaded boxes keep trusting it.
  const again = await run(process.execPath, [join(root, 'build.mjs'), '--out', out, '--keys', keys, '--quiet'], { cwd: root });
  t.is(again.stdout, '');
  t.true((await verifyApp({ ...(await files()), trusted: [await devKey()] })).ok);
});

test('a tampered module or a foreign key is refused before any code runs', async (t) => {
  const f = await files();
  const trusted = [await devKey()];
  const tampered = new Map(f.modules);
  const ui = new TextDecoder().decode(f.modules.get('ui')).replace('Guide', 'Pwned');
  tampered.set('ui', new TextEncoder().encode(ui));
  const r = await verifyApp({ ...f, modules: tampered, trusted });
  t.is(!r.ok && 'problem' in r.error ? r.error.problem : undefined, 'tampered-module');
  // Re-signed by another key (an operator key this box was never given).
  const other = join(work, 'other-keys');
  await run(process.execPath, [join(root, 'build.mjs'), '--out', join(work, 'other'), '--keys', other, '--quiet'], { cwd: root });
  const sig = await readFile(join(work, 'other', 'apps', 'guide', 'manifest.sig'));
  const r2 = await verifyApp({ ...f, signature: sig, trusted });
  t.is(!r2.ok && 'problem' in r2.error ? r2.error.problem : undefined, 'unknown-key');
  await writeFile(join(work, 'bad.jwk.json'), '{"kty":"RSA"}');
  const failed = await run(process.execPath, [join(root, 'build.mjs'), '--out', join(work, 'x'), '--key', join(work, 'bad.jwk.json')], { cwd: root }).catch((e: { code: number; stderr: string }) => e);
  t.is((failed as { code: number }).code, 1);
  t.regex((failed as { stderr: string }).stderr, /build failed: .*Ed25519 private JWK/);
});

/** The guide on one box and one head-end, sharing an in-process network. */
async function deploy(t: import('ava').ExecutionContext, v: VerifiedApp, searchSide: 'box' | 'headend') {
  const clock = new ManualClock();
  const net = new Net(clock);
  const scenes: Record<string, unknown>[] = [];
  const serviceCalls: unknown[] = [];
  const box = new AppSandbox(engine, { app: 'guide', side: 'box', session: 's1', clock, device: { model: 'stb-7' }, ui: (s) => scenes.push(s as Record<string, unknown>) });
  const headend = new AppSandbox(engine, {
    app: 'guide',
    side: 'headend',
    session: 's1',
    clock,
    services: { epg: (body) => (serviceCalls.push(body), LISTINGS) },
  });
  const at: Record<string, ModuleSandbox | undefined> = {};
  const links = new Map(['ui', 'search', 'epg'].map((n) => [n, net.attach(`weft://guide/s1/${n}`, () => at[n])]));
  const place = (sandbox: AppSandbox, name: string): ModuleSandbox => {
    const r = sandbox.load(v.modules.get(name)!, { link: links.get(name)! });
    if (!r.ok) throw r.error;
    at[name] = r.value;
    return r.value;
  };
  const epg = place(headend, 'epg');
  const search = place(searchSide === 'box' ? box : headend, 'search');
  epg.start();
  search.start();
  const ui = place(box, 'ui');
  ui.start();
  const idle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await settle(50);
  };
  await idle();
  const last = (): Record<string, unknown> => scenes[scenes.length - 1] as Record<string, unknown>;
  const done = (): void => {
    net.close();
    box.destroy();
    headend.destroy();
    t.is(box.liveHandles() + headend.liveHandles(), 0);
  };
  return { box, headend, at, scenes, serviceCalls, last, idle, done, place };
}

for (const side of ['headend', 'box'] as const) {
  test(`the guide runs with search on the ${side}: keys in, scenes out`, async (t) => {
    const f = await files();
    const v = await verifyApp({ ...f, trusted: [await devKey()] });
    if (!v.ok) return t.fail(v.error.message);
    // [c5] the placement rule picks the side from the box's report.
    const report = side === 'box' ? { memory: 4 << 20, storage: 1 << 20, cpu: 'mid' as const } : { memory: 100_000, storage: 1 << 20, cpu: 'mid' as const };
    t.like(placeModules(v.value.manifest, report).find((p) => p.module === 'search'), { side, proxy: side === 'headend' });
    const g = await deploy(t, v.value, side);
    t.like(g.last(), { screen: 'guide', title: 'Guide (stb-7)', status: 'ready', total: 8 });
    for (const k of ['n', 'e', 'w']) g.box.pressKey(k);
    await g.idle();
    t.like(g.last(), { query: 'new', status: 'ready', total: 3 });
    t.deepEqual((g.last().items as { title: string }[]).map((i) => i.title), ['Morning News', 'News at Noon', 'Evening News']);
    g.box.pressKey('down');
    g.box.pressKey('ok');
    t.like(g.last(), { screen: 'detail', title: 'News at Noon', time: '10:30', genre: 'news' });
    g.box.pressKey('back');
    t.like(g.last(), { screen: 'guide', query: 'new' });
    t.deepEqual(g.serviceCalls, [{ op: 'listings', day: 0 }], 'one service call: the peer caches');
    g.done();
  });
}

test('[c4, c18, c31] search moves from the head-end to the box with its state; the ui does not notice', async (t) => {
  const f = await files();
  const v = await verifyApp({ ...f, trusted: [await devKey()] });
  if (!v.ok) return t.fail(v.error.message);
  const g = await deploy(t, v.value, 'headend');
  g.box.pressKey('f');
  await g.idle();
  t.like(g.last(), { query: 'f', total: 2 });
  const before = g.at.search!;
  const state = before.snapshot();
  if (!state.ok) return t.fail(state.error.message);
  before.destroy();
  const moved = g.place(g.box, 'search');
  t.true(moved.restore(state.value).ok);
  moved.start();
  t.is(moved.address, before.address);
  g.box.pressKey('i');
  await g.idle();
  t.like(g.last(), { query: 'fi', total: 2, status: 'ready' });
  t.deepEqual(await moved.serve({ op: 'stats' }, { queue: 't' }), { day: 0, entries: 8, queries: 3 });
  t.is(g.serviceCalls.length, 1, 'the moved index needed no second fetch');
  g.done();
});
