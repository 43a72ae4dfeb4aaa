// The release store contract every adapter passes (memory, SQLite, Redis).
import test from 'ava';
import type { NewRelease, ReleaseStore } from '../../headend/releases/store.ts';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

export function release(app: string, version: string, body = 'v1'): NewRelease {
  return { app, version, manifestBytes: bytes(`{"app":"${app}","version":"${version}"}`), signature: bytes(`sig-${body}`), sources: { ui: bytes(`ui ${body}`), search: bytes(`search ${body}`) }, publishedBy: 'operator', publishedAt: 1000 };
}

/** `open(name)` opens the store named `name` afresh (same name: the same data, when the adapter is durable). */
export function releaseStoreContract(kind: string, open: (name: string) => Promise<ReleaseStore>): void {
  test(`${kind}: publishing is idempotent for the same bytes and refused for other bytes under a published version`, async (t) => {
    const s = await open('a');
    t.teardown(() => s.close());
    const first = await s.publish(release('guide', '1.0.0'));
    t.like(first, { ok: true, created: true, release: { state: 'staged', rev: 1, plan: '' } });
    t.like(await s.publish(release('guide', '1.0.0')), { ok: true, created: false });
    t.like(await s.publish(release('guide', '1.0.0', 'tampered')), { ok: false, reason: 'different-bytes' });
    const got = await s.get('guide', '1.0.0');
    t.deepEqual(got?.sources.ui, bytes('ui v1'));
    t.is(await s.get('guide', '9.9.9'), undefined);
  });

  test(`${kind}: state and plan change only with the current revision (compare-and-set)`, async (t) => {
    const s = await open('b');
    t.teardown(() => s.close());
    await s.publish(release('poll', '2.0.0'));
    const up = await s.update('poll', '2.0.0', 1, { state: 'rolling', plan: '{"waves":[]}' });
    t.like(up, { ok: true, release: { state: 'rolling', plan: '{"waves":[]}', rev: 2 } });
    t.like(await s.update('poll', '2.0.0', 1, { state: 'live' }), { ok: false, reason: 'stale', current: { rev: 2, state: 'rolling' } });
    t.like(await s.update('poll', '3.0.0', 1, { state: 'live' }), { ok: false, reason: 'not-found' });
    await t.throwsAsync(s.update('poll', '2.0.0', 2, { state: 'sideways' as never }), { message: /unknown state "sideways"/ });
  });

  test(`${kind}: versions list in semver order, counters only go up`, async (t) => {
    const s = await open('c');
    t.teardown(() => s.close());
    for (const v of ['1.0.10', '1.0.9', '1.0.10-rc.1', '0.9.0']) await s.publish(release('chat', v));
    t.deepEqual((await s.list('chat')).map((r) => r.version), ['0.9.0', '1.0.9', '1.0.10-rc.1', '1.0.10']);
    t.is(await s.bump('carousel.transaction'), 1);
    t.is(await s.bump('carousel.transaction'), 2);
    // [D113] a floor: the value is at least it, and the counter goes on from there.
    t.is(await s.bump('rollout.chat', 1_733_600_000_123), 1_733_600_000_123);
    t.is(await s.bump('rollout.chat', 5), 1_733_600_000_124, 'a floor below the counter is no floor');
    t.is(await s.bump('rollout.chat'), 1_733_600_000_125);
    await t.throwsAsync(s.bump('rollout.chat', -1), { message: /floor must be a safe integer >= 0/ });
    await t.throwsAsync(s.publish(release('Bad App', '1.0.0')), { message: /bad app name/ });
  });
}

export function releaseStoreHeads(kind: string, open: (name: string) => Promise<ReleaseStore>): void {
  test(`${kind}: heads name every version with its state, publish time and revision, in list order, with no bytes`, async (t) => {
    const s = await open('h');
    t.teardown(() => s.close());
    for (const v of ['1.0.10', '1.0.9']) await s.publish({ ...release('guide', v), publishedBy: 'startup' });
    await s.publish(release('chat', '2.0.0'));
    await s.update('guide', '1.0.9', 1, { state: 'live' });
    const head = (r: { app: string; version: string; state: string; publishedAt: number; rev: number }) => ({ app: r.app, version: r.version, state: r.state, publishedAt: r.publishedAt, rev: r.rev });
    t.deepEqual(await s.heads(), (await s.list()).map(head));
    t.deepEqual(await s.heads('guide'), [
      { app: 'guide', version: '1.0.9', state: 'live', publishedAt: 1000, rev: 2 },
      { app: 'guide', version: '1.0.10', state: 'staged', publishedAt: 1000, rev: 1 },
    ]);
    t.false('sources' in ((await s.heads('chat'))[0] ?? {}), 'no bytes');
    await s.publish({ ...release('guide', '1.0.9', 'rebuilt'), publishedBy: 'startup', publishedAt: 2000 }, { replaceIfPublishedBy: 'startup' });
    t.like((await s.heads('guide'))[0], { version: '1.0.9', publishedAt: 2000, rev: 3 }, 'a replaced publish shows in its head');
    t.deepEqual(await s.heads('nothing'), []);
  });

  test(`${kind}: the change token moves with every change heads() would show, and with nothing else`, async (t) => {
    const s = await open('k');
    t.teardown(() => s.close());
    const seen = [await s.changes()];
    const moved = async (what: string): Promise<void> => {
      const now = await s.changes();
      t.false(seen.includes(now), `${what} moves the token (${now})`);
      seen.push(now);
    };
    const still = async (what: string): Promise<void> => {
      t.is(await s.changes(), seen[seen.length - 1] as string, `${what} leaves the token`);
    };
    await s.publish({ ...release('guide', '1.0.0'), publishedBy: 'startup' });
    await moved('a new version');
    await s.publish(release('chat', '1.0.0'));
    await moved('a new app');
    await s.publish({ ...release('guide', '1.0.0'), publishedBy: 'startup' });
    await s.publish(release('guide', '1.0.0', 'tampered'));
    await s.get('guide', '1.0.0');
    await s.heads();
    await s.bump('carousel.transaction');
    await still('the same bytes again, refused bytes, reads and counters');
    await s.update('guide', '1.0.0', 1, { state: 'live' });
    await moved('a state change');
    await s.update('guide', '1.0.0', 1, { state: 'retired' });
    await still('a stale update');
    await s.update('chat', '1.0.0', 1, { plan: '{"waves":[]}' });
    await moved('a plan change');
    await s.publish({ ...release('guide', '1.0.0', 'rebuilt'), publishedBy: 'startup', publishedAt: 2000 }, { replaceIfPublishedBy: 'startup' });
    await moved('replaced bytes');
    await t.throwsAsync(s.bump('#changes'), { message: /bad counter name/ }, 'no caller can move the token by a counter of its own');
  });
}

export function releaseStoreMirror(kind: string, open: (name: string) => Promise<ReleaseStore>): void {
  test(`${kind}: the apps folder's mirror may replace its own bytes; nobody else's`, async (t) => {
    const s = await open('m');
    t.teardown(() => s.close());
    await s.publish({ ...release('guide', '1.0.0'), publishedBy: 'startup' });
    await s.update('guide', '1.0.0', 1, { state: 'live' });
    const again = await s.publish({ ...release('guide', '1.0.0', 'rebuilt'), publishedBy: 'startup' }, { replaceIfPublishedBy: 'startup' });
    t.like(again, { ok: true, replaced: true, release: { state: 'live', rev: 3, publishedBy: 'startup' } });
    t.deepEqual((await s.get('guide', '1.0.0'))?.sources.ui, bytes('ui rebuilt'));
    await s.publish({ ...release('vod', '1.0.0'), publishedBy: 'operator' });
    t.like(await s.publish({ ...release('vod', '1.0.0', 'other'), publishedBy: 'startup' }, { replaceIfPublishedBy: 'startup' }), { ok: false, reason: 'different-bytes' });
  });
}

/** For durable adapters: a reopened store has what the first one wrote. */
export function releaseStoreDurability(kind: string, open: (name: string) => Promise<ReleaseStore>): void {
  test(`${kind}: releases, states and counters survive a restart`, async (t) => {
    const s = await open('d');
    await s.publish(release('guide', '1.2.0'));
    await s.update('guide', '1.2.0', 1, { state: 'live' });
    await s.bump('carousel.version.guide');
    await s.bump('carousel.version.guide');
    await s.close();
    const again = await open('d');
    t.teardown(() => again.close());
    t.like(await again.get('guide', '1.2.0'), { state: 'live', rev: 2 });
    t.is(await again.bump('carousel.version.guide'), 3, 'carousel versions continue, never from 0');
  });
}
