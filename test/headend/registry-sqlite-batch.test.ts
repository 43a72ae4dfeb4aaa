// Issue 19 build 3: the SQLite registry's async writes of one turn commit in one transaction
// (a savepoint each), with the same contract as one transaction per write: a promise settles only
// after its write committed, a write that fails fails alone, and what was asked first is applied
// first (a read or a synchronous write after an unawaited write sees it). Waits on promises only.

import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteRegistry } from '../../headend/registry/registry-sqlite.ts';
import type { RegistryChange } from '../../headend/registry/registry.ts';

function tempDb(): { path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'weft-registry-batch-'));
  return { path: join(dir, 'registry.db'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
const loc = (i: number) => ({ node: 'n1', queue: `p${i}`, udp: { host: '127.0.0.1', port: 4000 } });
const session = (i: number) => ({ id: `s${i}`, app: 'guide', box: `b${i}`, node: 'n1', placements: { search: 'headend' as const } });

test('writes asked in one turn commit in one transaction; each settles after the commit (failed before: one commit per write)', async (t) => {
  const db = tempDb();
  const r = new SqliteRegistry({ path: db.path });
  const other = new Database(db.path, { readonly: true });
  const changes: RegistryChange[] = [];
  r.watch((c) => void changes.push(c));
  const committed: number[] = [];
  const binds = Array.from({ length: 20 }, (_, i) =>
    r.bind(`weft://guide/s${i}/search`, loc(i)).then((x) => {
      // Another connection already reads it: the answer never runs ahead of the commit.
      committed.push(other.prepare('SELECT count(*) AS n FROM locations').get() as never);
      return x;
    }),
  );
  const sessions = Array.from({ length: 5 }, (_, i) => r.createSession(session(i)));
  const out = await Promise.all([...binds, ...sessions]);
  t.true(out.every((x) => x.ok));
  t.deepEqual(committed[0], { n: 20 });
  t.deepEqual(r.writeStats(), { writes: 25, commits: 1, fallbacks: 0 });
  t.is(changes.length, 25, 'every change told, after the commit, in order');
  t.deepEqual(changes[0], { kind: 'location', vaddr: 'weft://guide/s0/search', epoch: 1, deleted: false });
  other.close();
  await r.close();
  db.remove();
});

test('in a batch a conflict is a value and a write SQLite refuses fails alone; the others commit', async (t) => {
  const db = tempDb();
  const r = new SqliteRegistry({ path: db.path });
  await r.bind('weft://guide/s0/search', loc(0));
  const trigger = new Database(db.path);
  trigger.exec(`CREATE TRIGGER refuse BEFORE INSERT ON locations WHEN NEW.vaddr = 'weft://guide/bad/search' BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END;`);
  trigger.close();
  const [dup, bad, good] = await Promise.allSettled([r.bind('weft://guide/s0/search', loc(1)), r.bind('weft://guide/bad/search', loc(2)), r.bind('weft://guide/s3/search', loc(3))]);
  t.is(dup.status === 'fulfilled' && !dup.value.ok && dup.value.error.reason, 'exists');
  t.is(bad.status, 'rejected');
  t.regex(String(bad.status === 'rejected' ? (bad.reason as Error).message : ''), /refused by a trigger/);
  t.true(good.status === 'fulfilled' && good.value.ok);
  t.is((await r.lookup('weft://guide/bad/search')) ?? 'none', 'none', 'the failed write left nothing');
  t.is((await r.lookup('weft://guide/s3/search'))?.queue, 'p3');
  await r.close();
  db.remove();
});

test('order is kept: a read or a synchronous write after an unawaited write sees it', async (t) => {
  const db = tempDb();
  const r = new SqliteRegistry({ path: db.path });
  const first = r.bind('weft://guide/s1/search', loc(1));
  t.is(r.lookupSync('weft://guide/s1/search')?.queue, 'p1');
  const again = r.bindSync('weft://guide/s1/search', loc(2));
  t.is(!again.ok && again.error.reason, 'exists');
  const created = r.createSession(session(1));
  t.is((await r.getSession('s1'))?.box, 'b1');
  t.true((await first).ok);
  t.true((await created).ok);
  await r.close();
  db.remove();
});

test('close commits what was asked before it; batching can be turned off', async (t) => {
  const db = tempDb();
  const r = new SqliteRegistry({ path: db.path });
  const p = r.createSession(session(7));
  await r.close();
  t.true((await p).ok);
  const plain = new SqliteRegistry({ path: db.path, batchWrites: false });
  t.is((await plain.getSession('s7'))?.id, 's7');
  await Promise.all([plain.bind('weft://guide/s8/search', loc(8)), plain.bind('weft://guide/s9/search', loc(9))]);
  t.deepEqual(plain.writeStats(), { writes: 2, commits: 2, fallbacks: 0 });
  t.throws(() => new SqliteRegistry({ path: db.path, batchWrites: 'yes' as never }), { message: /batchWrites/ });
  await plain.close();
  db.remove();
});
