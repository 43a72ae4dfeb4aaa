import test from 'ava';
import { ArgumentError, LocalBus, ManualClock, Router, type Address, type Envelope, type Transport } from '../../runtime/index.ts';
import type { ChangeListener, LocationRecord, Registry } from '../../headend/registry/registry.ts';
import { SqliteRegistry } from '../../headend/registry/registry-sqlite.ts';
import { RedisRegistry } from '../../headend/registry/registry-redis.ts';
import { RegistryResolver } from '../../headend/registry/resolver.ts';
import { nextChange } from '../_contracts/registry.ts';
import { needProgram } from '../_helpers/env.ts';
import { startRedis } from '../_helpers/redis.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const V = 'weft://guide/s1/search';
const ON_A = { node: 'node-a', queue: 'q.search', udp: { host: '127.0.0.1', port: 4001 } };
const ON_B = { node: 'node-b', queue: 'q.search2', udp: { host: '127.0.0.2', port: 4002 } };

test('a miss asks the registry once; a hit is synchronous and the same frozen object', async (t) => {
  const reg = new SqliteRegistry({ path: ':memory:' });
  const r = new RegistryResolver({ registry: reg, self: 'node-a' });
  await reg.bind(V, ON_A);
  const first = r.resolve(V);
  t.true(first instanceof Promise);
  const [a, b] = await Promise.all([first, r.resolve(V)]);
  t.deepEqual(a, { queue: 'q.search' });
  t.is(a, b, 'concurrent misses share one lookup');
  const hit = r.resolve(V);
  t.false(hit instanceof Promise);
  t.is(hit as Address | undefined, a);
  t.true(Object.isFrozen(hit));
  t.deepEqual(r.stats(), { hits: 1, misses: 1, invalidations: 0, resets: 0, size: 1 });
  r.close();
  await reg.close();
});

test('[c8-c12] same node gives the queue, another node its IP/UDP pair, a box the vaddr; no self gives both', async (t) => {
  const reg = new SqliteRegistry({ path: ':memory:' });
  await reg.bind(V, ON_A);
  await reg.bind('weft://guide/s1/ui', { node: 'box-9' });
  const onA = new RegistryResolver({ registry: reg, self: 'node-a' });
  const onB = new RegistryResolver({ registry: reg, self: 'node-b' });
  const anywhere = new RegistryResolver({ registry: reg });
  t.deepEqual(await onA.resolve(V), { queue: 'q.search' });
  t.deepEqual(await onB.resolve(V), { udp: { host: '127.0.0.1', port: 4001 } });
  t.deepEqual(await anywhere.resolve(V), { queue: 'q.search', udp: { host: '127.0.0.1', port: 4001 } });
  t.deepEqual(await onA.resolve('weft://guide/s1/ui'), { vaddr: 'weft://guide/s1/ui' });
  for (const r of [onA, onB, anywhere]) r.close();
  await reg.close();
});

test('an unbound vaddr resolves to undefined and is not cached, so a later bind is seen at once', async (t) => {
  const reg = new SqliteRegistry({ path: ':memory:' });
  const r = new RegistryResolver({ registry: reg, self: 'node-b' });
  t.is(await r.resolve(V), undefined);
  t.is(r.stats().size, 0);
  await reg.bind(V, ON_A);
  t.deepEqual(await r.resolve(V), { udp: ON_A.udp });
  r.close();
  await reg.close();
});

test('[c31, c32] a local move invalidates at once: the next resolve gives the new location', async (t) => {
  const reg = new SqliteRegistry({ path: ':memory:' });
  const r = new RegistryResolver({ registry: reg, self: 'node-a' });
  await reg.bind(V, ON_A);
  t.deepEqual(await r.resolve(V), { queue: 'q.search' });
  const moved = reg.move(V, ON_B, 1);
  await moved;
  t.is(r.peek(V), undefined);
  t.deepEqual(await r.resolve(V), { udp: ON_B.udp });
  t.is(r.stats().invalidations, 1);
  r.close();
  await reg.close();
});

test('a move by another process (SQLite) reaches the cache by the version poll', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-resolver-'));
  const clock = new ManualClock();
  const path = join(dir, 'r.db');
  const here = new SqliteRegistry({ path, clock, pollMs: 20 });
  const there = new SqliteRegistry({ path, clock });
  try {
    const r = new RegistryResolver({ registry: here, self: 'node-a' });
    await here.bind(V, ON_A);
    t.deepEqual(await r.resolve(V), { queue: 'q.search' });
    await there.move(V, ON_B, 1);
    t.deepEqual(r.resolve(V), { queue: 'q.search' }, 'stale until the poll');
    clock.advance(20);
    t.is(r.peek(V), undefined);
    t.deepEqual(await r.resolve(V), { udp: ON_B.udp });
    r.close();
  } finally {
    await here.close();
    await there.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a move by another process (Redis) reaches the cache by pub/sub', async (t) => {
  const program = needProgram(t, 'redis-server', 'the resolver over the Redis registry');
  if (program === undefined) return;
  const server = await startRedis(program);
  const here = await RedisRegistry.open({ url: server.url });
  const there = await RedisRegistry.open({ url: server.url });
  try {
    const r = new RegistryResolver({ registry: here, self: 'node-a' });
    await here.bind(V, ON_A);
    t.deepEqual(await r.resolve(V), { queue: 'q.search' });
    const heard = nextChange(here, (c) => c.kind === 'location' && c.epoch === 2);
    await there.move(V, ON_B, 1);
    await heard;
    t.is(r.peek(V), undefined);
    t.deepEqual(await r.resolve(V), { udp: ON_B.udp });
    r.close();
  } finally {
    await here.close();
    await there.close();
    await server.stop();
  }
});

/** A registry whose lookups the test answers by hand, to order a lookup against a change. */
function handRegistry(): { registry: Registry; answer: (rec: LocationRecord | undefined) => void; emit: ChangeListener; lookups: () => number } {
  const pending: ((rec: LocationRecord | undefined) => void)[] = [];
  let listener: ChangeListener = () => {};
  let lookups = 0;
  const no = (): never => {
    throw new Error('not used');
  };
  const registry: Registry = {
    kind: 'hand',
    lookup: () => {
      lookups++;
      return new Promise((resolve) => pending.push(resolve));
    },
    watch: (l) => {
      listener = l;
      return () => (listener = () => {});
    },
    bind: no, move: no, unbind: no, listByNode: no, listBySession: no, createSession: no, updateSession: no, getSession: no, deleteSession: no, listSessions: no,
    putCheckpoint: no, getCheckpoint: no, deleteCheckpoint: no,
    close: async () => {},
  };
  return { registry, answer: (rec) => pending.shift()?.(rec), emit: (c) => listener(c), lookups: () => lookups };
}

test('a change during a lookup keeps that (maybe stale) answer out of the cache', async (t) => {
  const h = handRegistry();
  const r = new RegistryResolver({ registry: h.registry, self: 'node-c' });
  const old = r.resolve(V);
  h.emit({ kind: 'location', vaddr: V, epoch: 2, deleted: false });
  h.answer({ vaddr: V, ...ON_A, epoch: 1, updatedAt: 0 });
  t.deepEqual(await old, { udp: ON_A.udp }, 'the caller still gets an answer');
  t.is(r.peek(V), undefined, 'but it is not cached');
  const next = r.resolve(V);
  t.is(h.lookups(), 2);
  h.answer({ vaddr: V, ...ON_B, epoch: 2, updatedAt: 0 });
  t.deepEqual(await next, { udp: ON_B.udp });
  t.deepEqual(r.peek(V), { udp: ON_B.udp });
});

test('reset drops every entry; the oldest entry goes first when the cache is full', async (t) => {
  const reg = new SqliteRegistry({ path: ':memory:' });
  const r = new RegistryResolver({ registry: reg, self: 'x', maxEntries: 3 });
  for (let i = 0; i < 4; i++) await reg.bind(`weft://guide/s${i}/m`, { node: 'n', udp: { host: '127.0.0.1', port: 5000 + i } });
  for (let i = 0; i < 4; i++) await r.resolve(`weft://guide/s${i}/m`);
  t.is(r.stats().size, 3);
  t.is(r.peek('weft://guide/s0/m'), undefined);
  t.deepEqual(r.peek('weft://guide/s3/m'), { udp: { host: '127.0.0.1', port: 5003 } });
  const h = handRegistry();
  const r2 = new RegistryResolver({ registry: h.registry });
  const p = r2.resolve(V);
  h.answer({ vaddr: V, node: 'n', queue: 'q', epoch: 1, updatedAt: 0 });
  await p;
  t.is(r2.stats().size, 1);
  h.emit({ kind: 'reset' });
  t.deepEqual(r2.stats(), { hits: 0, misses: 1, invalidations: 0, resets: 1, size: 0 });
  r.close();
  await reg.close();
});

test('after close the resolver stops listening and caches nothing', async (t) => {
  const reg = new SqliteRegistry({ path: ':memory:' });
  const heard: unknown[] = [];
  const r = new RegistryResolver({ registry: reg });
  await reg.bind(V, ON_A);
  await r.resolve(V);
  r.close();
  reg.watch((c) => heard.push(c));
  await reg.move(V, ON_B, 1);
  t.is(heard.length, 1);
  t.deepEqual(await r.resolve(V), { queue: ON_B.queue, udp: ON_B.udp });
  t.is(r.stats().size, 0);
  await reg.close();
  t.throws(() => new RegistryResolver({ registry: reg, ttl: 5 } as never), { instanceOf: ArgumentError, message: /"ttl"/ });
});

test('[c31] with the runtime Router: messages to a vaddr follow the portion when it moves queues', async (t) => {
  const reg = new SqliteRegistry({ path: ':memory:' });
  const bus = new LocalBus();
  const sender = bus.open('sender');
  const oldQ = bus.open('q.old');
  const newQ = bus.open('q.new');
  const got: [string, unknown][] = [];
  oldQ.onEnvelope((e) => got.push(['old', e.body]));
  newQ.onEnvelope((e) => got.push(['new', e.body]));
  const resolver = new RegistryResolver({ registry: reg, self: 'node-a' });
  const router = new Router({ routes: [{ name: 'local', transport: sender as Transport, accepts: (d: Address) => d.queue !== undefined && bus.has(d.queue) }], resolver });
  const send = (body: number): Promise<void> => router.send({ v: 1, kind: 'msg', id: body, src: sender.address, dst: { vaddr: V }, body } satisfies Envelope);
  await reg.bind(V, { node: 'node-a', queue: 'q.old' });
  await send(1);
  await send(2);
  await reg.move(V, { node: 'node-a', queue: 'q.new' }, 1);
  await send(3);
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(got, [['old', 1], ['old', 2], ['new', 3]]);
  resolver.close();
  await reg.close();
});
