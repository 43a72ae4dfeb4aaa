// Issue 16 finding 2: a session refused because of the app itself carries a reason code to the
// box (REFUSED, data.reason) and into the head-end's log, once per app and cause per interval.
import test from 'ava';
import { Codes, ManualClock, RemoteError } from '../../runtime/index.ts';
import { SessionRefusals, refusalReason } from '../../headend/session-refusal.ts';
import { memoryRegistry, testNode } from '../_helpers/headend.ts';
import { signedApp } from '../_helpers/apps.ts';

const report = { boxId: 'b1', profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low' as const, cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: 0 };
const server = (source: string) => [{ name: 'srv', kind: 'server' as const, source }];

test('an untrusted key, a tampered module, an unknown service and a module that throws at load are each refused with their reason', async (t) => {
  const ok = `weft.on('request', () => 1);`;
  const trustedApp = await signedApp('good', server(ok));
  const foreign = await signedApp('foreign', server(ok));
  const service = await signedApp('svc', [{ name: 'p', kind: 'peer', uses: ['services.nope'], source: ok }]);
  const boom = await signedApp('boom', server(`throw new Error('boom at load');`));
  const tampered = await signedApp('tamper', server(ok));
  tampered.pub.sources.srv = new TextEncoder().encode(`weft.on('request', () => 2);`);
  const logs: string[] = [];
  const node = await testNode({ id: 'n1', registry: memoryRegistry(), apps: [trustedApp.pub, foreign.pub, service.pub, boom.pub, tampered.pub], trusted: [...trustedApp.trusted, ...service.trusted, ...boom.trusted, ...tampered.trusted], log: (l) => logs.push(l) });
  t.teardown(() => node.close());
  const cases: [string, string][] = [['foreign', 'untrusted-key'], ['svc', 'unknown-service'], ['boom', 'load-failed'], ['tamper', 'tampered']];
  for (const [app, reason] of cases) {
    const e = await t.throwsAsync(node.sessions.open({ app, version: '1.0.0', boxId: 'b1', report }));
    t.true(e instanceof RemoteError && e.remoteCode === Codes.REFUSED, `${app}: ${String(e)}`);
    t.like((e as RemoteError).data, { reason }, app);
  }
  t.is(node.sessions.counters.refused, 4);
  t.is(logs.filter((l) => l.startsWith('session refused: ')).length, 4, 'one log line per app and cause');
  t.truthy(await node.sessions.open({ app: 'good', version: '1.0.0', boxId: 'b2', report: { ...report, boxId: 'b2' } }));
});

test('each (app, cause) is logged once per interval however often the box retries', (t) => {
  const clock = new ManualClock(0);
  const lines: string[] = [];
  const r = new SessionRefusals(clock, (l) => lines.push(l), 60_000);
  for (let i = 0; i < 50; i++) r.refuse('guide', '1.0.0', 'unknown-key: signed by key 12, which this device does not trust');
  r.refuse('vod', '2.0.0', 'tampered-module: srv: sha-256 mismatch');
  t.is(lines.length, 2);
  clock.advance(60_000);
  r.refuse('guide', '1.0.0', 'unknown-key: again');
  t.is(lines.length, 3);
  t.is(r.counts['untrusted-key'], 51);
  t.is(r.refuse('guide', '1.0.0', 'all 8 worker threads in use'), undefined, 'a busy node is not the app’s fault: no refusal');
  t.is(refusalReason('a3/p: capability: this head-end has no service "nope"'), 'unknown-service');
});
