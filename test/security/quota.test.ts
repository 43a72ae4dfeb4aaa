// docs/SECURITY.md row "quotas": one box opening 1,000 sessions ends with at most its quota held
// (issue 12 finding 5: 1,000 sessions in 13 s, +250 MiB), counted in records and maps, not RSS;
// module downloads per box are rate-limited; the defaults apply without any configuration.
// In-process: the real session manager and SQLite registry, a fake node that starts nothing.

import test from 'ava';
import { Codes, ManualClock, RemoteError, SESSIONS_VADDR, SessionOps, type Envelope, type Result } from '../../runtime/index.ts';
import { AppCatalog } from '../../headend/app-catalog.ts';
import { BoxLocations } from '../../headend/node/box-locations.ts';
import { DEFAULT_QUOTAS, resolveQuotas } from '../../headend/node/quotas.ts';
import { SessionManager, type SessionHost } from '../../headend/session-manager.ts';
import { Balancer } from '../../policy/index.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryRegistry } from '../_helpers/headend.ts';

async function world(quotas?: Parameters<typeof resolveQuotas>[0]) {
  const { pub } = await signedApp('mix', MIXED_APP);
  const catalog = new AppCatalog();
  catalog.add(pub);
  const clock = new ManualClock(0);
  const registry = memoryRegistry(clock);
  let started = 0;
  const host = {
    id: 'n1',
    registry,
    catalog,
    policy: new Balancer({ random: () => 0.5 }),
    statistics: { clusterView: () => ({ nodes: [] }) },
    boxes: new BoxLocations(),
    clock,
    peerUdp: () => undefined,
    stopSession: () => Promise.resolve(1),
    startPortion: (): Promise<Result<string, Error>> => Promise.resolve({ ok: true, value: `p${++started}.n1` }),
    request: () => Promise.reject(new Error('no peers')),
  } as unknown as SessionHost;
  const sm = quotas === undefined ? new SessionManager(host) : new SessionManager(host, quotas);
  return { sm, registry, clock, started: () => started };
}

let nextId = 1;
function fromBox(box: string, op: string, body: unknown, dst = SESSIONS_VADDR): Envelope {
  return { v: 1, kind: 'req', id: nextId++, op, src: { vaddr: `weft://box/${box}/inbox` }, dst: { vaddr: dst }, body, ext: { by: `box:${box}` } };
}

function openEnv(box: string): Envelope {
  const report = { boxId: box, profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low', cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: 0 };
  return fromBox(box, SessionOps.open, { app: 'mix', version: '1.0.0', boxId: box, report });
}

function quotaOf(e: unknown): string | undefined {
  return e instanceof RemoteError && e.remoteCode === Codes.QUOTA ? (e.data as { quota?: string } | undefined)?.quota : undefined;
}

test('one box opening 1,000 sessions at once ends with at most its session quota held', async (t) => {
  const w = await world();
  const results = await Promise.allSettled(Array.from({ length: 1000 }, () => w.sm.handle(openEnv('box-a'))));
  const opened = results.filter((r) => r.status === 'fulfilled').length;
  const refused = results.filter((r) => r.status === 'rejected' && quotaOf(r.reason) === 'sessions').length;
  t.is(opened, DEFAULT_QUOTAS.sessionsPerBox);
  t.is(refused, 1000 - opened, 'every other open is refused with QUOTA, data.quota = sessions');
  t.is(w.sm.count, opened, 'live sessions held by the manager');
  t.is((await w.registry.listSessions({ app: 'mix' })).length, opened, 'session records');
  t.is(w.started(), opened, 'portions started');
  // Another box is not affected by box-a's quota.
  await t.notThrowsAsync(w.sm.handle(openEnv('box-b')));
  await w.registry.close();
});

test('a closed session frees its place in the quota, also when another node closed it', async (t) => {
  const w = await world({ sessionsPerBox: 2 });
  const a = (await w.sm.handle(openEnv('box-a'))) as { session: string };
  const b = (await w.sm.handle(openEnv('box-a'))) as { session: string };
  t.is(quotaOf(await t.throwsAsync(w.sm.handle(openEnv('box-a')))), 'sessions');
  await w.sm.handle(fromBox('box-a', SessionOps.close, { session: a.session }));
  await t.notThrowsAsync(w.sm.handle(openEnv('box-a')), 'closed here');
  // Closed through another node: only the registry record goes; the quota check looks there.
  await w.registry.deleteSession(b.session);
  await t.notThrowsAsync(w.sm.handle(openEnv('box-a')), 'closed elsewhere');
  await w.registry.close();
});

test('module downloads per box are rate-limited (QUOTA, data.quota = downloads) and refill with time', async (t) => {
  const w = await world({ downloads: { perSec: 1, burst: 4 } });
  const mine: Record<string, { session: string; node: string }> = {};
  for (const box of ['box-a', 'box-b']) mine[box] = (await w.sm.handle(openEnv(box))) as { session: string; node: string };
  const get = (box: string) => () => {
    const s = mine[box] as { session: string; node: string };
    return w.sm.moduleGet(fromBox(box, SessionOps.moduleGet, { session: s.session, module: 'ui' }, `weft://headend/${s.node}/modules`));
  };
  for (let i = 0; i < 4; i++) t.notThrows(get('box-a'));
  t.is(quotaOf(t.throws(get('box-a'))), 'downloads');
  t.notThrows(get('box-b'), 'per box');
  w.clock.advance(1000);
  t.notThrows(get('box-a'), 'one more a second later');
  await w.registry.close();
});

test('quota options are validated and unknown ones rejected by name', (t) => {
  t.throws(() => resolveQuotas({ sessionsPerBox: 0 }), { message: /sessionsPerBox/ });
  t.throws(() => resolveQuotas({ sessionsPerBox: 20, sessions: 10 }), { message: /sessionsPerBox/ });
  t.throws(() => resolveQuotas({ sesionsPerBox: 3 } as never), { message: /sesionsPerBox/ });
  t.throws(() => resolveQuotas({ downloads: { perSec: 1, burst: 2, extra: 1 } as never }), { message: /extra/ });
  t.deepEqual(resolveQuotas(undefined), DEFAULT_QUOTAS);
});

test('the box-location map is bounded and forgets a closed session by name', (t) => {
  const boxes = new BoxLocations(new Map(), 3);
  for (let i = 0; i < 10; i++) boxes.set(`weft://mix/s${i}/ui`, 'box-a');
  t.is(boxes.size, 3, 'the oldest are forgotten (routing learns them again from the session record)');
  t.is(boxes.get('weft://mix/s9/ui'), 'box-a');
  boxes.forgetSession('mix', 's9', ['ui', 'search']);
  t.false(boxes.has('weft://mix/s9/ui'));
  t.throws(() => new BoxLocations(new Map(), 0), { message: /max/ });
});

test('a resource report is taken only from the box it describes', async (t) => {
  const w = await world();
  const report = (box: string, about: string) => ({ ...fromBox(box, SessionOps.report, { boxId: about, profile: 'legacy-sd' }, 'weft://headend/*/stats'), kind: 'stat' as const });
  w.sm.boxReport(report('box-a', 'box-a'));
  w.sm.boxReport(report('box-a', 'box-b'));
  t.is(w.sm.counters.reports, 1, "box-a's report about box-b is dropped");
  t.is(w.sm.counters.refused, 1);
  await w.registry.close();
});
