// Publishing and rolling out through the admin API on the console's server: verified before
// stored, promoted wave by wave to live, halted, rolled back, and resumed after a restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { trustedKeyFromJson } from '../../runtime/app/index.ts';
import { ConsoleMetrics, History, consoleApp, type ConsoleSource } from '../../headend/console/index.ts';
import { Releases, releaseRoutes, type Release } from '../../headend/releases/index.ts';
import { SqliteReleaseStore } from '../../headend/releases/release-store-sqlite.ts';
import { signedApp, MIXED_APP } from '../_helpers/apps.ts';

const TOKEN = 'release-token-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'weft-rel-api-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const source: ConsoleSource = { snapshot: () => ({ node: 'n1', at: 0, nodes: [], counters: {}, errorCounters: [] }), actions: {} };

async function server(db: string, trustedJson: unknown[], live: Release[] = []) {
  const trusted = await Promise.all(trustedJson.map((j) => trustedKeyFromJson(j)));
  let now = 1_000;
  const releases = new Releases({ store: new SqliteReleaseStore(db), trusted: () => trusted, now: () => now++, onLive: (r) => live.push(r) });
  const app = consoleApp({ source, metrics: new ConsoleMetrics(() => source.snapshot()), history: new History(2), token: TOKEN, assets: {}, pushEveryMs: 1000, routes: [(a, guard) => releaseRoutes(a, releases, guard, () => 'operator')] });
  const post = async (path: string, body: unknown, token = TOKEN) => {
    const r = await app.request(path, { method: 'POST', body: JSON.stringify(body), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const get = async (path: string) => (await app.request(path)).json() as Promise<{ version: string; state: string; plan?: { wave: number } }[]>;
  return { post, get };
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
function wire(pub: Awaited<ReturnType<typeof signedApp>>['pub']) {
  return { manifest: b64(pub.manifestBytes), signature: b64(pub.signature), sources: Object.fromEntries(Object.entries(pub.sources).map(([k, v]) => [k, b64(v)])) };
}

test('publish is verified, idempotent, refused without the token, for a foreign key, or for tampered bytes', async (t) => {
  const { pub, trusted } = await signedApp('mixed', MIXED_APP, '1.0.0');
  const s = await server(join(dir, 'a.db'), trusted);
  t.is((await s.post('/api/apps', wire(pub), 'not-the-token-000000000')).status, 401);
  t.like(await s.post('/api/apps', wire(pub)), { status: 200, body: { ok: true, app: 'mixed', version: '1.0.0', state: 'staged' } });
  t.like(await s.post('/api/apps', wire(pub)), { status: 200, body: { note: 'already published (same bytes)' } });
  const foreign = await signedApp('mixed', MIXED_APP, '1.0.1');
  const refused = await s.post('/api/apps', wire(foreign.pub));
  t.is(refused.status, 422);
  t.regex(String(refused.body.error), /^refused: unknown-key: signed by key \w+, which this device does not trust$/);
  const tampered = wire(pub);
  tampered.sources.counter = b64(new TextEncoder().encode('weft.on("request", () => 666)'));
  t.is((await s.post('/api/apps', tampered)).status, 422);
  t.deepEqual((await s.get('/api/apps/mixed')).map((r) => r.version), ['1.0.0']);
});

test('a plan promotes wave by wave to live, the old version retires, a restart resumes, rollback goes back', async (t) => {
  const v1 = await signedApp('poll', MIXED_APP, '1.0.0');
  const key = v1.trusted;
  const v2 = { pub: (await resign(v1, '1.1.0')).pub };
  const live: Release[] = [];
  const db = join(dir, 'b.db');
  const s = await server(db, key, live);
  await s.post('/api/apps', wire(v1.pub));
  t.like(await s.post('/api/apps/poll/1.0.0/promote', { now: true }), { body: { state: 'live' } });
  await s.post('/api/apps', wire(v2.pub));
  const plan = { waves: [{ percent: 10, probationS: 1, errorBudget: 0.1 }, { percent: 100, probationS: 1, errorBudget: 0.1 }] };
  t.like(await s.post('/api/apps/poll/1.1.0/promote', { plan }), { body: { state: 'rolling' } });
  // A restarted head-end (a new server on the same database) finds the rollout where it was.
  const again = await server(db, key, live);
  t.is((await again.get('/api/apps/poll')).find((r) => r.version === '1.1.0')?.plan?.wave, 0);
  t.like(await again.post('/api/apps/poll/1.1.0/promote', {}), { body: { state: 'rolling' } });
  t.like(await again.post('/api/apps/poll/1.1.0/promote', {}), { body: { state: 'live' } });
  t.deepEqual((await again.get('/api/apps/poll')).map((r) => [r.version, r.state]), [['1.0.0', 'retired'], ['1.1.0', 'live']]);
  t.deepEqual(live.map((r) => r.version), ['1.0.0', '1.1.0']);
  const older = await again.post('/api/apps/poll/1.0.0/promote', { now: true });
  t.is(older.status, 422);
  t.regex(String(older.body.error), /older than live 1\.1\.0: use rollback/);
  t.like(await again.post('/api/apps/poll/1.0.0/rollback', {}), { body: { state: 'live' } });
  t.deepEqual(live.map((r) => r.version), ['1.0.0', '1.1.0', '1.0.0']);
  const halt = await again.post('/api/apps/poll/1.1.0/halt', {});
  t.is(halt.status, 409);
  t.regex(String(halt.body.error), /only a rolling version halts/);
});

// The same modules signed as another version with the same key as `base`.
async function resign(base: Awaited<ReturnType<typeof signedApp>>, version: string) {
  const { encodeManifest, signManifest } = await import('../../runtime/app/index.ts');
  const manifest = { ...base.pub.manifest, version };
  const manifestBytes = encodeManifest(manifest);
  return { pub: { ...base.pub, manifest, manifestBytes, signature: await signManifest(manifestBytes, base.key) } };
}
