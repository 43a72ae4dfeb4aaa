// The registry contract: every adapter of the Registry port (SQLite, Redis) passes these same
// tests. A test file calls registryContract with a factory of fresh, empty stores.

import test, { type ExecutionContext } from 'ava';
import { AddressError, ArgumentError, ChannelClosedError, ManualClock } from '../../runtime/index.ts';
import type { Location, Registry, RegistryChange } from '../../headend/registry/registry.ts';

export interface RegistryHarness {
  /** An empty store, opened with `clock`. */
  registry: Registry;
  /** Another instance over the same store (as another process would open it). */
  second(): Promise<Registry>;
  /** Let other instances learn of a write (advance the poll clock; a no-op where it is pushed). */
  propagate(): void;
  /** [D99] Store `raw` as a session's switch id behind the adapter's back (another writer's bad value). */
  storeSwitchId?(session: string, raw: string | number): Promise<void>;
  close(): Promise<void>;
}

export type RegistryFactory = (clock: ManualClock) => Promise<RegistryHarness>;

const V = 'weft://guide/s1/search';
const A: Location = { node: 'node-a', queue: 'guide.s1.search', udp: { host: '127.0.0.1', port: 4001 } };
const B: Location = { node: 'node-b', queue: 'guide.s1.search', udp: { host: '127.0.0.2', port: 4002 } };

/** The next change matching `pred`, or a rejection after `ms` (so a missing change fails, not hangs). */
export function nextChange(r: Registry, pred: (c: RegistryChange) => boolean, ms = 5000): Promise<RegistryChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no matching change within ${ms} ms`));
    }, ms);
    const stop = r.watch((c) => {
      if (!pred(c)) return;
      clearTimeout(timer);
      stop();
      resolve(c);
    });
  });
}

export function registryContract(name: string, make: RegistryFactory): void {
  const run = (title: string, fn: (r: Registry, h: RegistryHarness, clock: ManualClock, t: ExecutionContext) => Promise<void>): void => {
    test(`${name}: ${title}`, async (t) => {
      const clock = new ManualClock(1_700_000_000_000);
      const h = await make(clock);
      try {
        await fn(h.registry, h, clock, t);
      } finally {
        await h.close();
      }
    });
  };

  run('bind then lookup gives the record at epoch 1; a second bind is refused with the current record', async (r, _h, clock, t) => {
    t.is(await r.lookup(V), undefined);
    const bound = await r.bind(V, A);
    const want = { vaddr: V, ...A, epoch: 1, updatedAt: clock.now() };
    t.deepEqual(bound, { ok: true, value: want });
    t.deepEqual(await r.lookup(V), want);
    clock.advance(10);
    t.deepEqual(await r.bind(V, B), { ok: false, error: { reason: 'exists', current: want } });
    // A box-side portion has a node (box id) and nothing else: fields absent, not undefined.
    const box = await r.bind('weft://guide/s1/ui', { node: 'box-17' });
    t.true(box.ok);
    t.deepEqual(await r.lookup('weft://guide/s1/ui'), { vaddr: 'weft://guide/s1/ui', node: 'box-17', epoch: 1, updatedAt: clock.now() });
  });

  run('[c31, c32] a move re-points the record with a bumped epoch; a stale or unknown move is refused', async (r, _h, clock, t) => {
    await r.bind(V, A);
    clock.advance(5);
    const moved = await r.move(V, B, 1);
    t.deepEqual(moved, { ok: true, value: { vaddr: V, ...B, epoch: 2, updatedAt: clock.now() } });
    t.deepEqual(await r.lookup(V), { vaddr: V, ...B, epoch: 2, updatedAt: clock.now() });
    const stale = await r.move(V, A, 1);
    t.false(stale.ok);
    if (!stale.ok) {
      t.is(stale.error.reason, 'stale');
      t.is(stale.error.current?.epoch, 2);
      t.is(stale.error.current?.node, 'node-b');
    }
    t.deepEqual(await r.move('weft://guide/s1/nothing', A, 1), { ok: false, error: { reason: 'missing' } });
    // Moving to a location without udp drops the old udp pair.
    const third = await r.move(V, { node: 'box-3' }, 2);
    t.true(third.ok);
    t.deepEqual(await r.lookup(V), { vaddr: V, node: 'box-3', epoch: 3, updatedAt: clock.now() });
  });

  run('two movers racing with the same epoch: exactly one wins, and the record is the winner', async (r, h, _clock, t) => {
    const other = await h.second();
    await r.bind(V, A);
    const targets: Location[] = Array.from({ length: 6 }, (_, i) => ({ node: `node-${i}`, udp: { host: '127.0.0.1', port: 5000 + i } }));
    const results = await Promise.all(targets.map((loc, i) => (i % 2 === 0 ? r : other).move(V, loc, 1)));
    const winners = results.filter((x) => x.ok);
    t.is(winners.length, 1);
    const win = winners[0];
    const rec = await other.lookup(V);
    t.is(rec?.epoch, 2);
    if (win?.ok === true) t.is(rec?.node, win.value.node);
    for (const x of results) if (!x.ok) t.is(x.error.reason, 'stale');
  });

  run('unbind checks the epoch when given, removes the record and its index entries', async (r, _h, _clock, t) => {
    await r.bind(V, A);
    await r.move(V, B, 1);
    const stale = await r.unbind(V, 1);
    t.is(stale.ok ? 'ok' : stale.error.reason, 'stale');
    t.is((await r.lookup(V))?.epoch, 2);
    const gone = await r.unbind(V, 2);
    t.true(gone.ok);
    if (gone.ok) t.is(gone.value.node, 'node-b');
    t.is(await r.lookup(V), undefined);
    t.deepEqual(await r.listByNode('node-b'), []);
    t.deepEqual(await r.listBySession('guide', 's1'), []);
    t.deepEqual(await r.unbind(V), { ok: false, error: { reason: 'missing' } });
    t.true((await r.bind(V, A)).ok, 'the vaddr can be bound again');
  });

  run('records of a node are listed (to re-place a dead node), and follow a move between nodes', async (r, _h, _clock, t) => {
    const names = Array.from({ length: 40 }, (_, i) => `weft://guide/s${String(i).padStart(2, '0')}/search`);
    for (const [i, v] of names.entries()) await r.bind(v, i % 4 === 0 ? B : A);
    await r.bind('weft://guide/*/epg', A);
    const onB = await r.listByNode('node-b');
    t.deepEqual(onB.map((x) => x.vaddr), names.filter((_, i) => i % 4 === 0));
    t.is((await r.listByNode('node-a')).length, 31);
    t.deepEqual(await r.listByNode('node-z'), []);
    // Re-place everything from the "dead" node-b onto node-c.
    for (const rec of onB) t.true((await r.move(rec.vaddr, { node: 'node-c', queue: 'q' }, rec.epoch)).ok);
    t.deepEqual(await r.listByNode('node-b'), []);
    t.deepEqual((await r.listByNode('node-c')).map((x) => x.vaddr), onB.map((x) => x.vaddr));
    t.deepEqual((await r.listBySession('guide', '*')).map((x) => x.vaddr), ['weft://guide/*/epg']);
    await r.bind('weft://guide/s00/ui', { node: 'box-1' });
    t.deepEqual((await r.listBySession('guide', 's00')).map((x) => x.vaddr), ['weft://guide/s00/search', 'weft://guide/s00/ui']);
  });

  run('sessions: create, get, compare-and-set update, list by node and app, delete', async (r, _h, clock, t) => {
    const created = await r.createSession({ id: 's1', app: 'guide', box: 'box-1', node: 'node-a', placements: { search: 'box', epg: 'headend' } });
    const t0 = clock.now();
    const want = { id: 's1', app: 'guide', box: 'box-1', node: 'node-a', placements: { epg: 'headend', search: 'box' }, createdAt: t0, updatedAt: t0, version: 1 };
    t.deepEqual(created, { ok: true, value: want });
    t.deepEqual(await r.getSession('s1'), want);
    t.deepEqual(await r.createSession({ id: 's1', app: 'vod', box: 'b', node: 'n' }), { ok: false, error: { reason: 'exists', current: want } });
    await r.createSession({ id: 's2', app: 'vod', box: 'box-2', node: 'node-a' });
    await r.createSession({ id: 's3', app: 'guide', box: 'box-3', node: 'node-b' });
    clock.advance(50);
    const upd = await r.updateSession('s1', { placements: { search: 'headend' } }, 1);
    t.deepEqual(upd, { ok: true, value: { ...want, placements: { search: 'headend' }, updatedAt: t0 + 50, version: 2 } });
    const stale = await r.updateSession('s1', { node: 'node-b' }, 1);
    t.is(stale.ok ? 'ok' : stale.error.reason, 'stale');
    t.true((await r.updateSession('s1', { node: 'node-b' }, 2)).ok);
    t.deepEqual(await r.updateSession('nope', { node: 'x' }, 1), { ok: false, error: { reason: 'missing' } });
    const got = await r.getSession('s1');
    t.is(got?.node, 'node-b');
    t.deepEqual(got?.placements, { search: 'headend' });
    t.is(got?.createdAt, t0);
    t.deepEqual((await r.listSessions()).map((s) => s.id), ['s1', 's2', 's3']);
    t.deepEqual((await r.listSessions({ node: 'node-b' })).map((s) => s.id), ['s1', 's3']);
    t.deepEqual((await r.listSessions({ node: 'node-a' })).map((s) => s.id), ['s2']);
    t.deepEqual((await r.listSessions({ app: 'guide' })).map((s) => s.id), ['s1', 's3']);
    t.deepEqual((await r.listSessions({ app: 'guide', node: 'node-a' })).map((s) => s.id), []);
    t.true(await r.deleteSession('s1'));
    t.false(await r.deleteSession('s1'));
    t.is(await r.getSession('s1'), undefined);
    t.deepEqual((await r.listSessions({ node: 'node-b' })).map((s) => s.id), ['s3']);
    t.deepEqual((await r.listSessions({ app: 'guide' })).map((s) => s.id), ['s3']);
  });

  run('sessions: the app version a session pairs with is kept across updates until a switch changes it (issue 15.6)', async (r, _h, clock, t) => {
    const t0 = clock.now();
    const created = await r.createSession({ id: 's1', app: 'guide', box: 'box-1', node: 'node-a', placements: { epg: 'headend' }, appVersion: '1.0.2' });
    const want = { id: 's1', app: 'guide', box: 'box-1', node: 'node-a', placements: { epg: 'headend' }, appVersion: '1.0.2', createdAt: t0, updatedAt: t0, version: 1 };
    t.deepEqual(created, { ok: true, value: want });
    t.deepEqual(await r.getSession('s1'), want);
    const moved = await r.updateSession('s1', { node: 'node-b' }, 1);
    t.is(moved.ok ? moved.value.appVersion : 'refused', '1.0.2');
    t.true((await r.updateSession('s1', { placements: { epg: 'headend', ui: 'box' } }, 2)).ok);
    t.is((await r.listSessions({ node: 'node-b' }))[0]?.appVersion, '1.0.2');
    const switched = await r.updateSession('s1', { appVersion: '1.0.1' }, 3);
    t.is(switched.ok ? switched.value.appVersion : 'refused', '1.0.1');
    t.deepEqual(await r.getSession('s1'), { ...want, node: 'node-b', placements: { epg: 'headend', ui: 'box' }, appVersion: '1.0.1', version: 4 });
    await t.throwsAsync(r.createSession({ id: 's2', app: 'guide', box: 'b', node: 'n', appVersion: 'x y' }), { instanceOf: ArgumentError, message: /appVersion/ });
    await t.throwsAsync(r.updateSession('s1', { appVersion: '' }, 4), { instanceOf: ArgumentError, message: /appVersion/ });
  });

  run('sessions: the last switch id is written with a switch and kept by every patch that does not name it (D99)', async (r, h, _clock, t) => {
    await r.createSession({ id: 's1', app: 'guide', box: 'box-1', node: 'node-a', placements: { epg: 'headend' }, appVersion: '1.0.0' });
    t.false('switchId' in ((await r.getSession('s1')) ?? {}), 'absent until a switch, never undefined or null');
    const switched = await r.updateSession('s1', { appVersion: '1.0.1', switchId: 0xffff_ffff }, 1);
    t.deepEqual(switched.ok ? [switched.value.appVersion, switched.value.switchId, switched.value.version] : 'refused', ['1.0.1', 0xffff_ffff, 2], 'one write: version and id');
    t.is((await r.updateSession('s1', { node: 'node-b' }, 2)).ok ? (await r.getSession('s1'))?.switchId : -1, 0xffff_ffff, 'a move keeps it');
    t.true((await r.updateSession('s1', { placements: { epg: 'headend', ui: 'box' } }, 3)).ok);
    t.is((await r.listSessions({ node: 'node-b' }))[0]?.switchId, 0xffff_ffff);
    t.is((await (await h.second()).getSession('s1'))?.switchId, 0xffff_ffff, 'another instance reads it');
    const wrapped = await r.updateSession('s1', { appVersion: '1.0.0', switchId: 0 }, 4);
    t.is(wrapped.ok ? wrapped.value.switchId : -1, 0, 'the box\'s counter wrapped: 0 is an id');
    const stale = await r.updateSession('s1', { switchId: 5 }, 4);
    t.is(stale.ok ? -1 : stale.error.current?.switchId, 0, 'a stale write changes nothing and shows the stored id');
    const again = await r.createSession({ id: 's2', app: 'guide', box: 'box-2', node: 'node-a', switchId: 9 });
    t.is(again.ok ? again.value.switchId : -1, 9, 'a record written again from a held copy keeps its id');
    t.is((await r.getSession('s2'))?.switchId, 9);
    for (const bad of [-1, 1.5, 2 ** 32, '7', null]) {
      await t.throwsAsync(r.updateSession('s1', { switchId: bad as number }, 5), { instanceOf: ArgumentError, message: /switchId/ }, String(bad));
      await t.throwsAsync(r.createSession({ id: 's3', app: 'guide', box: 'b', node: 'n', switchId: bad as number }), { instanceOf: ArgumentError, message: /switchId/ });
    }
    t.is((await r.getSession('s1'))?.version, 5);
  });

  run('sessions: a stored switch id that is not a uint32 is read as absent and counted, never trusted (D99)', async (r, h, _clock, t) => {
    if (h.storeSwitchId === undefined) {
      t.pass('the harness cannot write behind the adapter');
      return;
    }
    await r.createSession({ id: 's1', app: 'guide', box: 'box-1', node: 'node-a', switchId: 3 });
    for (const raw of ['x7', -1, 2 ** 32, 1.5]) {
      await h.storeSwitchId('s1', raw);
      const before = r.faults?.switchId ?? 0;
      const got = await r.getSession('s1');
      t.is(got?.node, 'node-a', 'the record itself is read');
      t.false('switchId' in (got ?? {}), `${String(raw)} is not an id`);
      t.is(r.faults?.switchId, before + 1, 'counted');
    }
    const rewritten = await r.updateSession('s1', { switchId: 4 }, 1);
    t.is(rewritten.ok ? rewritten.value.switchId : -1, 4, 'a switch writes over it');
  });

  run('bad input is refused by name before anything is written', async (r, _h, _clock, t) => {
    await t.throwsAsync(r.bind('http://x/y/z', A), { instanceOf: AddressError });
    await t.throwsAsync(r.bind(V, { node: 'n', where: 'x' } as unknown as Location), { instanceOf: ArgumentError, message: /unknown location field "where"/ });
    await t.throwsAsync(r.bind(V, { node: '' }), { instanceOf: ArgumentError, message: /node/ });
    await t.throwsAsync(r.bind(V, { node: 'n', udp: { host: '127.0.0.1', port: 70000 } }), { instanceOf: AddressError, message: /port/ });
    await t.throwsAsync(r.move(V, A, 0), { instanceOf: ArgumentError, message: /expectedEpoch/ });
    await t.throwsAsync(r.createSession({ id: 'a/b', app: 'guide', box: 'b', node: 'n' }), { instanceOf: ArgumentError, message: /session id/ });
    await t.throwsAsync(r.createSession({ id: 's', app: 'guide', box: 'b', node: 'n', placements: { m: 'cloud' as 'box' } }), { instanceOf: ArgumentError, message: /placement/ });
    await t.throwsAsync(r.listSessions({ owner: 'x' } as never), { instanceOf: ArgumentError, message: /owner/ });
    t.is(await r.lookup(V), undefined);
    t.deepEqual(await r.listSessions(), []);
  });

  run('watchers hear this instance\'s writes before the write settles, until they stop', async (r, _h, _clock, t) => {
    const heard: RegistryChange[] = [];
    const stop = r.watch((c) => heard.push(c));
    await r.bind(V, A);
    t.deepEqual(heard, [{ kind: 'location', vaddr: V, epoch: 1, deleted: false }]);
    const p = r.move(V, B, 1);
    await p;
    t.deepEqual(heard.at(-1), { kind: 'location', vaddr: V, epoch: 2, deleted: false });
    await r.move(V, B, 1); // refused: no change
    t.is(heard.length, 2);
    await r.createSession({ id: 's1', app: 'guide', box: 'b', node: 'n' });
    await r.updateSession('s1', { node: 'm' }, 1);
    await r.deleteSession('s1');
    await r.unbind(V);
    t.deepEqual(heard.slice(2), [
      { kind: 'session', id: 's1', version: 1, deleted: false },
      { kind: 'session', id: 's1', version: 2, deleted: false },
      { kind: 'session', id: 's1', version: 2, deleted: true },
      { kind: 'location', vaddr: V, epoch: 2, deleted: true },
    ]);
    stop();
    await r.bind(V, A);
    t.is(heard.length, 6);
  });

  run('another instance over the same store hears a move and then looks up the new location', async (r, h, _clock, t) => {
    const other = await h.second();
    await r.bind(V, A);
    t.is((await other.lookup(V))?.node, 'node-a');
    const heard = nextChange(other, (c) => c.kind === 'location' && c.vaddr === V && c.epoch === 2);
    await r.move(V, B, 1);
    h.propagate();
    t.deepEqual(await heard, { kind: 'location', vaddr: V, epoch: 2, deleted: false });
    t.deepEqual((await other.lookup(V))?.udp, B.udp);
  });

  run('after close every call rejects with ChannelClosedError; close is idempotent', async (r, _h, _clock, t) => {
    await r.bind(V, A);
    await r.close();
    await r.close();
    await t.throwsAsync(r.lookup(V), { instanceOf: ChannelClosedError });
    await t.throwsAsync(r.move(V, B, 1), { instanceOf: ChannelClosedError });
    await t.throwsAsync(r.listSessions(), { instanceOf: ChannelClosedError });
  });
}
