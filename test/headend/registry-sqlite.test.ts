import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { ArgumentError, ManualClock } from '../../runtime/index.ts';
import type { RegistryChange } from '../../headend/registry/registry.ts';
import { SqliteRegistry } from '../../headend/registry/registry-sqlite.ts';
import { registryContract } from '../_contracts/registry.ts';
import { checkpointContract } from '../_contracts/registry-checkpoints.ts';

const run = promisify(execFile);

function tempDb(): { path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'weft-registry-'));
  return { path: join(dir, 'registry.db'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

registryContract('sqlite', async (clock) => {
  const db = tempDb();
  const opened: SqliteRegistry[] = [];
  const open = (): SqliteRegistry => {
    const r = new SqliteRegistry({ path: db.path, clock, pollMs: 100 });
    opened.push(r);
    return r;
  };
  const registry = open();
  return {
    registry,
    second: async () => open(),
    propagate: () => clock.advance(100),
    storeSwitchId: async (session, raw) => {
      const d = new Database(db.path);
      try {
        d.prepare('UPDATE sessions SET switch_id = ? WHERE id = ?').run(raw, session);
      } finally {
        d.close();
      }
    },
    close: async () => {
      for (const r of opened) await r.close();
      db.remove();
    },
  };
});

checkpointContract('sqlite', async (clock) => {
  const db = tempDb();
  const registry = new SqliteRegistry({ path: db.path, clock });
  return { registry, close: async () => (await registry.close(), db.remove()) };
});

// The embedded head-end's `--registry memory` and the deterministic test tier.
checkpointContract('sqlite in memory', async (clock) => {
  const registry = new SqliteRegistry({ path: ':memory:', clock });
  return { registry, close: () => registry.close() };
});

test('sqlite: records and sessions survive closing and reopening the file; epochs continue', async (t) => {
  const db = tempDb();
  const clock = new ManualClock();
  try {
    const first = new SqliteRegistry({ path: db.path, clock });
    await first.bind('weft://guide/s1/search', { node: 'node-a', queue: 'q1', udp: { host: '127.0.0.1', port: 7000 } });
    await first.move('weft://guide/s1/search', { node: 'node-b', udp: { host: '127.0.0.1', port: 7001 } }, 1);
    await first.createSession({ id: 's1', app: 'guide', box: 'box-1', node: 'node-b', placements: { search: 'box' } });
    await first.close();

    clock.advance(1000);
    const again = new SqliteRegistry({ path: db.path, clock });
    t.deepEqual(await again.lookup('weft://guide/s1/search'), {
      vaddr: 'weft://guide/s1/search',
      node: 'node-b',
      udp: { host: '127.0.0.1', port: 7001 },
      epoch: 2,
      updatedAt: clock.now() - 1000,
    });
    t.deepEqual((await again.getSession('s1'))?.placements, { search: 'box' });
    t.deepEqual((await again.listByNode('node-b')).map((r) => r.vaddr), ['weft://guide/s1/search']);
    const moved = await again.move('weft://guide/s1/search', { node: 'node-c' }, 2);
    t.true(moved.ok && moved.value.epoch === 3);
    await again.close();
  } finally {
    db.remove();
  }
});

test('sqlite: a file written before sessions carried their app version opens, keeps its sessions and takes the version (issue 15.6)', async (t) => {
  const db = tempDb();
  try {
    const first = new SqliteRegistry({ path: db.path });
    await first.createSession({ id: 's1', app: 'guide', box: 'box-1', node: 'node-a', placements: { epg: 'headend' } });
    await first.close();
    // The column as an earlier build left the file: gone.
    await run(process.execPath, ['-e', `const D = require('better-sqlite3'); const d = new D(${JSON.stringify(db.path)}); d.exec('ALTER TABLE sessions DROP COLUMN app_version'); d.close();`]);
    const again = new SqliteRegistry({ path: db.path });
    const old = await again.getSession('s1');
    t.is(old?.appVersion, undefined);
    t.is(old?.node, 'node-a');
    const switched = await again.updateSession('s1', { appVersion: '1.0.2' }, 1);
    t.is(switched.ok ? switched.value.appVersion : 'refused', '1.0.2');
    t.is((await again.getSession('s1'))?.appVersion, '1.0.2');
    await again.close();
  } finally {
    db.remove();
  }
});

test('sqlite: a file written before sessions carried their last switch id opens, keeps its sessions and takes the id (D99)', async (t) => {
  const db = tempDb();
  try {
    const first = new SqliteRegistry({ path: db.path });
    await first.createSession({ id: 's1', app: 'guide', box: 'box-1', node: 'node-a', placements: { epg: 'headend' }, appVersion: '1.0.1' });
    await first.close();
    // The file as the build before D99 left it: sessions without the column.
    const d = new Database(db.path);
    d.exec('ALTER TABLE sessions DROP COLUMN switch_id');
    d.close();
    const again = new SqliteRegistry({ path: db.path });
    const old = await again.getSession('s1');
    t.deepEqual([old?.appVersion, old?.node, old !== undefined && 'switchId' in old], ['1.0.1', 'node-a', false]);
    t.is(again.faults.switchId, 0, 'a missing id is not a bad one');
    const switched = await again.updateSession('s1', { appVersion: '1.0.0', switchId: 12 }, 1);
    t.deepEqual(switched.ok ? [switched.value.appVersion, switched.value.switchId] : 'refused', ['1.0.0', 12]);
    await again.close();
    const third = new SqliteRegistry({ path: db.path }); // the column added once survives the next open
    t.is((await third.getSession('s1'))?.switchId, 12);
    await third.close();
  } finally {
    db.remove();
  }
});

test('sqlite: the poll is one cheap version check when nothing changed, and skips our own writes', async (t) => {
  const db = tempDb();
  const clock = new ManualClock();
  const a = new SqliteRegistry({ path: db.path, clock });
  const b = new SqliteRegistry({ path: db.path, clock });
  try {
    t.is(a.poll(), 0);
    await a.bind('weft://guide/s1/search', { node: 'n' });
    t.is(a.poll(), 0, 'own write is not reported again');
    t.is(b.poll(), 1, 'the other connection sees one change');
    t.is(b.poll(), 0);
  } finally {
    await a.close();
    await b.close();
    db.remove();
  }
});

test('sqlite: a poller that fell behind a pruned change log hears `reset`', async (t) => {
  const db = tempDb();
  const clock = new ManualClock();
  const writer = new SqliteRegistry({ path: db.path, clock, keepChanges: 10 });
  const slow = new SqliteRegistry({ path: db.path, clock });
  try {
    const heard: RegistryChange[] = [];
    slow.watch((c) => heard.push(c));
    for (let i = 0; i < 1000; i++) await writer.bind(`weft://guide/s${i}/search`, { node: 'n' });
    slow.poll();
    t.deepEqual(heard, [{ kind: 'reset' }]);
    await writer.move('weft://guide/s5/search', { node: 'm' }, 1);
    slow.poll();
    t.deepEqual(heard.at(-1), { kind: 'location', vaddr: 'weft://guide/s5/search', epoch: 2, deleted: false });
  } finally {
    await writer.close();
    await slow.close();
    db.remove();
  }
});

test('sqlite: a write by another process is seen by the version poll', async (t) => {
  const db = tempDb();
  const clock = new ManualClock();
  const here = new SqliteRegistry({ path: db.path, clock, pollMs: 50 });
  try {
    await here.bind('weft://guide/s1/search', { node: 'node-a' });
    const heard: RegistryChange[] = [];
    here.watch((c) => heard.push(c));
    const moduleUrl = new URL('../../headend/registry/registry-sqlite.ts', import.meta.url).href;
    const script = `
      import { SqliteRegistry } from ${JSON.stringify(moduleUrl)};
      const r = new SqliteRegistry({ path: ${JSON.stringify(db.path)} });
      const out = await r.move('weft://guide/s1/search', { node: 'node-b' }, 1);
      await r.close();
      if (!out.ok) process.exit(3);`;
    await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
    t.deepEqual(heard, [], 'nothing before the poll runs');
    clock.advance(50);
    t.deepEqual(heard, [{ kind: 'location', vaddr: 'weft://guide/s1/search', epoch: 2, deleted: false }]);
    t.is((await here.lookup('weft://guide/s1/search'))?.node, 'node-b');
  } finally {
    await here.close();
    db.remove();
  }
});

test('sqlite: :memory: works, never polls, and unknown options are refused by name', async (t) => {
  const clock = new ManualClock();
  const r = new SqliteRegistry({ path: ':memory:', clock });
  const stop = r.watch(() => {});
  t.is(clock.pending, 0);
  t.true((await r.bind('weft://vod/s/cat', { node: 'n' })).ok);
  stop();
  await r.close();
  t.throws(() => new SqliteRegistry({ path: ':memory:', poll: 5 } as never), { instanceOf: ArgumentError, message: /"poll"/ });
  t.throws(() => new SqliteRegistry({ path: ':memory:', pollMs: 0 }), { instanceOf: ArgumentError, message: /pollMs/ });
});

test('sqlite: the poll timer runs only while someone watches', async (t) => {
  const db = tempDb();
  const clock = new ManualClock();
  const r = new SqliteRegistry({ path: db.path, clock });
  try {
    t.is(clock.pending, 0);
    const stop1 = r.watch(() => {});
    const stop2 = r.watch(() => {});
    t.is(clock.pending, 1);
    clock.advance(100);
    t.is(clock.pending, 1, 'rescheduled');
    stop1();
    t.is(clock.pending, 1);
    stop2();
    t.is(clock.pending, 0);
  } finally {
    await r.close();
    db.remove();
  }
});

test('sqlite: a file written by a newer registry schema is refused, not misread', async (t) => {
  const db = tempDb();
  try {
    await new SqliteRegistry({ path: db.path }).close();
    const { default: Database } = await import('better-sqlite3');
    const raw = new Database(db.path);
    raw.prepare(`UPDATE meta SET value = '2' WHERE key = 'schema'`).run();
    raw.close();
    t.throws(() => new SqliteRegistry({ path: db.path }), { instanceOf: ArgumentError, message: /schema 2, this build reads 1/ });
  } finally {
    db.remove();
  }
});
