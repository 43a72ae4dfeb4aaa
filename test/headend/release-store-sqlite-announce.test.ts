// The SQLite release store's announcements (D103 on SQLite): processes sharing the registry's file
// hear each other's release writes from a short log read when PRAGMA data_version moves, not at
// their catalog's next timer sync. Deterministic: each store's timer is an hour, the test polls.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { KEPT_ANNOUNCEMENTS, SqliteReleaseStore } from '../../headend/releases/release-store-sqlite.ts';
import type { NewRelease, StoreAnnouncement } from '../../headend/releases/store.ts';

const HOUR = 3_600_000;

/** Two stores on one file (two connections, as two processes); `watch` false: the second does not watch yet. */
function pair(t: import('ava').ExecutionContext, watch = true) {
  const dir = mkdtempSync(join(tmpdir(), 'weft-rel-announce-'));
  const file = join(dir, 'registry.db');
  const a = new SqliteReleaseStore(file, { pollMs: HOUR });
  const b = new SqliteReleaseStore(file, { pollMs: HOUR });
  t.teardown(async () => {
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const heard: StoreAnnouncement[] = [];
  const listen = (): void => void b.watch((x) => heard.push(x));
  if (watch) listen();
  return { file, a, b, heard, listen };
}

const release = (app: string, version: string): NewRelease => ({ app, version, manifestBytes: new Uint8Array([1]), signature: new Uint8Array([2]), sources: {}, publishedBy: 'op', publishedAt: 1 });

test('a write through one connection is announced, by app, to a watcher on another; one look when nothing changed reads nothing', async (t) => {
  const { a, b, heard } = pair(t);
  t.is(b.poll(), 0, 'nothing written since the watch began');
  await a.publish(release('guide', '1.0.0'));
  const r = await a.get('guide', '1.0.0');
  await a.update('guide', '1.0.0', r?.rev ?? 0, { state: 'live' });
  await a.publish(release('poll', '2.0.0'));
  t.is(b.poll(), 3);
  t.deepEqual(heard, [{ kind: 'changed', body: 'guide' }, { kind: 'changed', body: 'guide' }, { kind: 'changed', body: 'poll' }]);
  t.is(b.poll(), 0, 'each write is announced once');
  t.like(b.announceStats(), { announced: 3, resyncs: 0 });
});

test('writes made before the watch began are not announced; the watcher\'s own writes come only after another connection writes', async (t) => {
  const { a, b, heard, listen } = pair(t, false);
  await a.publish(release('old', '1.0.0'));
  listen();
  await b.publish(release('own', '1.0.0'));
  t.is(b.poll(), 0, 'its own commit does not move its data_version');
  await a.publish(release('guide', '1.0.0'));
  t.is(b.poll(), 2);
  t.deepEqual(heard.map((x) => (x.kind === 'changed' ? x.body : x.kind)), ['own', 'guide'], 'the echo of its own write, then the other\'s; never the write before the watch');
});

test(`a watcher more than ${KEPT_ANNOUNCEMENTS} writes behind resyncs instead of reading them; the file keeps ${KEPT_ANNOUNCEMENTS}`, async (t) => {
  const { file, a, b, heard } = pair(t);
  for (let i = 0; i < KEPT_ANNOUNCEMENTS + 10; i++) await a.publish(release('guide', `1.0.${i}`));
  t.is(b.poll(), 1);
  t.deepEqual(heard, [{ kind: 'resync' }]);
  const db = new Database(file, { readonly: true });
  t.is((db.prepare('SELECT COUNT(*) AS n FROM release_announce').get() as { n: number }).n, KEPT_ANNOUNCEMENTS);
  db.close();
  await a.publish(release('guide', '2.0.0'));
  t.is(b.poll(), 1);
  t.deepEqual(heard.at(-1), { kind: 'changed', body: 'guide' }, 'after the resync it reads on from the newest');
  t.like(b.announceStats(), { resyncs: 1, announced: 1 });
});

test('what another writer put in the log is passed on as a body for the catalog to check, never more than the file keeps per look', async (t) => {
  const { file, b, heard } = pair(t);
  const db = new Database(file);
  db.prepare('INSERT INTO release_announce (app) VALUES (?)').run('x'.repeat(10_000));
  db.prepare('INSERT INTO release_announce (app) VALUES (?)').run(Buffer.from([1, 2]));
  t.is(b.poll(), 2);
  t.deepEqual(heard.map((x) => (x.kind === 'changed' ? typeof x.body : x.kind)), ['string', 'object'], 'bodies as written: CatalogSync counts them bad (catalog-push-bounds.test.ts)');
  // Rows written by hand past what the file keeps (no prune ran): one look reads at most that many, then resyncs.
  const add = db.prepare('INSERT INTO release_announce (app) VALUES (?)');
  for (let i = 0; i < KEPT_ANNOUNCEMENTS + 1; i++) add.run('guide');
  db.close();
  t.is(b.poll(), 1);
  t.deepEqual(heard.at(-1), { kind: 'resync' });
  t.is(heard.length, 3);
});

test('options are checked by name', (t) => {
  t.throws(() => new SqliteReleaseStore(':memory:', { pollMs: 0 }), { message: /pollMs must be a positive integer/ });
  t.throws(() => new SqliteReleaseStore(':memory:', { poll: 5 } as never), { message: /unknown option "poll"/ });
});
