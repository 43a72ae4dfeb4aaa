// ClaimKeeper over the in-memory SQLite registry: deterministic (no clock, no sockets). The
// Redis Cluster failover tests run the same keeper against a real lost write.
import test from 'ava';
import { ArgumentError } from '../../runtime/index.ts';
import { ClaimKeeper } from '../../headend/registry/claims.ts';
import type { LocationRecord, Registry } from '../../headend/registry/registry.ts';
import { SqliteRegistry } from '../../headend/registry/registry-sqlite.ts';
import { lossyRegistry } from '../_helpers/lossy-registry.ts';

const V = 'weft://guide/s1/main';
const A = { node: 'node-a', queue: 'a.1' };
const B = { node: 'node-b', queue: 'b.1' };
const now = (): Promise<void> => Promise.resolve();

test('a claim held, refused to a second node; a move to another owner stops the copy', async (t) => {
  const reg = new SqliteRegistry({ path: ':memory:' });
  const lost: [string, LocationRecord | undefined][] = [];
  const ka = new ClaimKeeper({ registry: reg, onLost: (v, owner) => lost.push([v, owner]), backoff: now });
  const kb = new ClaimKeeper({ registry: reg, onLost: () => t.fail('node-b never held it'), backoff: now });
  t.true((await ka.claim(V, A)).ok);
  const refused = await kb.claim(V, B);
  t.is(refused.ok ? 'ok' : refused.error.reason, 'exists');
  t.deepEqual(ka.held(), [V]);
  await reg.move(V, B, 1); // e.g. a survivor judged node-a dead and took the portion over
  await ka.settled();
  t.deepEqual(lost.map(([v, o]) => [v, o?.node]), [[V, 'node-b']]);
  t.deepEqual(ka.held(), []);
  t.is(ka.stats.lost, 1);
  ka.close();
  kb.close();
  await reg.close();
});

test('a held record that vanished (a lost write) is bound again; a retried bind that had landed is kept', async (t) => {
  const reg = lossyRegistry(new SqliteRegistry({ path: ':memory:' }));
  const ka = new ClaimKeeper({ registry: reg, onLost: () => t.fail('not lost'), backoff: now });
  t.true((await ka.claim(V, A)).ok);
  await reg.lose(V); // the write vanishing with its master: no word on the feed
  reg.failover(); // the adapter's reset when a node leaves the topology
  await ka.settled();
  t.is(ka.stats.rebound, 1);
  t.is((await reg.lookup(V))?.queue, 'a.1');
  t.deepEqual(ka.held(), [V]);
  // The same instance claiming again (its first reply was lost) finds its own record: held, not refused.
  const again = await ka.claim(V, A);
  t.true(again.ok);
  t.is(ka.stats.refused, 0);
  ka.close();
  await reg.close();
});

test('a held record another writer unbinds (a survivor gave the session up) is not bound again: the copy stops', async (t) => {
  const reg = new SqliteRegistry({ path: ':memory:' });
  const lost: [string, LocationRecord | undefined][] = [];
  const ka = new ClaimKeeper({ registry: reg, onLost: (v, owner) => lost.push([v, owner]), backoff: now });
  t.true((await ka.claim(V, A)).ok);
  await reg.unbind(V); // the feed tells of the unbind: on purpose, not a failover
  await ka.settled();
  t.deepEqual(lost, [[V, undefined]]);
  t.is(await reg.lookup(V), undefined);
  t.is(ka.stats.rebound, 0);
  ka.close();
  await reg.close();
});

test('a registry that fails is retried, counted, and after maxAttempts the claim is unavailable and a check stops the copy', async (t) => {
  const reg = new SqliteRegistry({ path: ':memory:' });
  let failures = 2;
  const flaky: Registry = Object.create(reg) as Registry;
  flaky.bind = (v, l) => (failures-- > 0 ? Promise.reject(new Error('CLUSTERDOWN')) : reg.bind(v, l));
  flaky.watch = (l) => reg.watch(l);
  let lookups = 0;
  flaky.lookup = (v) => (++lookups > 1 ? Promise.reject(new Error('CLUSTERDOWN')) : reg.lookup(v));
  const lost: string[] = [];
  const k = new ClaimKeeper({ registry: flaky, onLost: (v) => lost.push(v), backoff: now, maxAttempts: 3 });
  t.true((await k.claim(V, A)).ok, 'two failures, then the bind');
  t.is(k.stats.retries, 2);
  failures = 5;
  const out = await k.claim('weft://guide/s2/main', A);
  t.deepEqual(out, { ok: false, error: { reason: 'unavailable' } });
  // A change to the held vaddr whose record cannot be read: stop rather than risk two copies.
  lookups = 1;
  await reg.move(V, A, 1);
  await k.settled();
  t.deepEqual(lost, [V]);
  k.close();
  await reg.close();
});

test('a record this node moves onto another of its instances is held anew, not lost; an instance let go hears nothing more', async (t) => {
  const reg = new SqliteRegistry({ path: ':memory:' });
  const lost: string[] = [];
  const ka = new ClaimKeeper({ registry: reg, onLost: (v) => lost.push(v), backoff: now });
  const A2 = { node: 'node-a', queue: 'a.2' };
  t.true((await ka.claim(V, A)).ok);
  // A version upgrade: the new instance takes the record; the change reaches the keeper first.
  const moved = await reg.move(V, A2, 1);
  t.true(moved.ok);
  ka.hold(V, A2, 2);
  await ka.settled();
  t.deepEqual(lost, [], 'the check of the old claim sees it replaced and stands down');
  t.is(ka.stats.checked, 1);
  t.true((await ka.claim('weft://guide/s1/epg', A2)).ok);
  t.deepEqual(ka.forgetInstance('a.2').map((x) => [x.vaddr, x.loc.queue]), [[V, 'a.2'], ['weft://guide/s1/epg', 'a.2']]);
  t.deepEqual(ka.held(), []);
  await reg.move(V, B, 2); // a move-out's target takes it: no loss on the source
  await ka.settled();
  t.deepEqual(lost, []);
  ka.close();
  await reg.close();
});

test('a claim taken back after a failed move-out is read first: in another\'s name it is lost, with the instance that held it', async (t) => {
  const reg = new SqliteRegistry({ path: ':memory:' });
  const lost: [string, string | undefined, string | undefined][] = [];
  const ka = new ClaimKeeper({ registry: reg, onLost: (v, owner, mine) => lost.push([v, owner?.node, mine.queue]), backoff: now });
  t.true((await ka.claim(V, A)).ok);
  const given = ka.forgetInstance('a.1');
  await reg.move(V, B, 1); // the target started it; its answer never came back
  for (const g of given) ka.hold(g.vaddr, g.loc);
  await ka.settled();
  t.deepEqual(lost, [[V, 'node-b', 'a.1']]);
  t.deepEqual(ka.held(), []);
  ka.close();
  await reg.close();
});

test('options are checked by name', (t) => {
  const reg = new SqliteRegistry({ path: ':memory:' });
  t.throws(() => new ClaimKeeper({ registry: reg, onLost: () => {}, ttl: 1 } as never), { instanceOf: ArgumentError, message: /"ttl"/ });
  t.throws(() => new ClaimKeeper({ registry: reg } as never), { instanceOf: ArgumentError, message: /onLost/ });
  void reg.close();
});
