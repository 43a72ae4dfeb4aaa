// docs/SECURITY.md rows "MQTT ingress: endpoint classes" and "identity from authentication":
// a logged-in box, speaking through the real embedded broker, tries the node-internal endpoints
// and other boxes' sessions (issue 12 findings 1 and 2). Each attempt must be refused with a
// typed error, counted, and leave no trace (no portion, no peer, no session).

import test from 'ava';
import { Channel, Codes, RemoteError, SESSIONS_VADDR, STATS_VADDR, SessionOps, checkOpenReply, type Envelope } from '../../runtime/index.ts';
import type { MqttTransport } from '../../transport/mqtt.ts';
import type { HeadendNode } from '../../headend/node.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryRegistry, testNode } from '../_helpers/headend.ts';
import { aedesBroker, secretOf, transport, type TestBroker } from '../_helpers/mqtt-fixtures.ts';
import type { SqliteRegistry } from '../../headend/registry/registry-sqlite.ts';

interface Box {
  t: MqttTransport;
  ch: Channel;
}

interface World {
  broker: TestBroker;
  registry: SqliteRegistry;
  node: HeadendNode;
  a: Box;
  b: Box;
  logs: string[];
}

let w: World;

async function box(url: string, id: string): Promise<Box> {
  const t = await transport(url, id);
  const ch = new Channel({ self: { vaddr: `weft://box/${id}/inbox` }, write: (e: Envelope) => t.send(e), timeoutMs: 10_000 });
  t.onEnvelope((e) => ch.receive(e));
  return { t, ch };
}

function report(boxId: string) {
  return { boxId, profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low' as const, cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: 0 };
}

function open(b: Box, boxId: string, claimed = boxId) {
  return b.ch.request({ vaddr: SESSIONS_VADDR }, { app: 'mix', version: '1.0.0', boxId: claimed, report: report(boxId) }, { op: SessionOps.open });
}

async function refusedWith(t: import('ava').ExecutionContext, p: Promise<unknown>, code: number): Promise<void> {
  const e = await t.throwsAsync(p);
  t.true(e instanceof RemoteError, `a typed refusal, got ${String(e)}`);
  t.is((e as RemoteError).remoteCode, code, (e as Error).message);
}

test.before(async () => {
  const broker = await aedesBroker();
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const logs: string[] = [];
  const node = await testNode({ id: 'node-1', registry, apps: [pub], trusted, mqtt: { url: broker.url, password: secretOf('node-1') }, log: (l) => logs.push(l) });
  w = { broker, registry, node, a: await box(broker.url, 'box-a'), b: await box(broker.url, 'box-b'), logs };
});

test.after.always(async () => {
  await w.a.t.close();
  await w.b.t.close();
  await w.node.close();
  await w.registry.close();
  await w.broker.close();
});

test.serial('a box cannot start a portion through node control (portion.start)', async (t) => {
  const body = { app: 'mix', session: 'evil1', modules: ['counter'] };
  await refusedWith(t, w.a.ch.request({ vaddr: w.node.vaddr('control') }, body, { op: 'portion.start' }), Codes.FORBIDDEN);
  t.is(await w.registry.lookup('weft://mix/evil1/counter'), undefined, 'no portion was started');
  t.false(w.node.table.hosted.has('weft://mix/evil1/counter'));
});

test.serial("a box cannot stop another box's portion (portion.stop)", async (t) => {
  const bs = checkOpenReply(await open(w.b, 'box-b'));
  await refusedWith(t, w.a.ch.request({ vaddr: w.node.vaddr('control') }, { session: bs.session }, { op: 'portion.stop' }), Codes.FORBIDDEN);
  t.true(w.node.table.hosted.has(bs.dasp), "box-b's portion still runs");
  t.like(await w.b.ch.request({ vaddr: bs.dasp }, 'still here'), { n: 1 });
});

test.serial('a box cannot invent a node through the statistics endpoint (timing.beat, stats.node)', async (t) => {
  const before = w.node.security.refused.operation;
  const fake = { node: 'evil', udp: { host: '127.0.0.1', port: 9 } };
  await w.a.ch.send({ vaddr: STATS_VADDR }, fake, { op: 'timing.beat', kind: 'stat' });
  await w.a.ch.send({ vaddr: STATS_VADDR }, { ...fake, load: 0 }, { op: 'stats.node', kind: 'stat' });
  // The same box's next request is handled after both: its refusal means they were too.
  await refusedWith(t, w.a.ch.request({ vaddr: w.node.vaddr('stats') }, fake, { op: 'timing.beat' }), Codes.FORBIDDEN);
  t.deepEqual(w.node.peers(), [], 'no node was invented');
  t.is(w.node.security.refused.operation - before, 3, 'each attempt counted');
});

test.serial('session.open naming another box is refused: identity comes from the broker login', async (t) => {
  await refusedWith(t, open(w.a, 'box-a', 'box-b'), Codes.FORBIDDEN);
  const sessions = await w.registry.listSessions({ app: 'mix' });
  t.false(sessions.some((s) => s.box === 'box-b' && w.node.sessions.boxOfSession('mix', s.id) !== 'box-b'));
  t.is(sessions.filter((s) => s.box === 'box-b').length, 1, 'only the session box-b opened itself');
});

test.serial("a box cannot reach another box's session portion, nor a shared or node-internal one", async (t) => {
  const bs = (await w.registry.listSessions({ app: 'mix' })).find((s) => s.box === 'box-b');
  if (bs === undefined) return t.fail('box-b has a session');
  await refusedWith(t, w.a.ch.request({ vaddr: `weft://mix/${bs.id}/counter` }, 'x'), Codes.FORBIDDEN);
  await refusedWith(t, w.a.ch.request({ vaddr: 'weft://mix/*/counter' }, 'x'), Codes.FORBIDDEN);
  await refusedWith(t, w.a.ch.request({ vaddr: w.node.vaddr('services') }, { service: 'vod', op: 'order' }), Codes.FORBIDDEN);
  await refusedWith(t, w.a.ch.request({ vaddr: SESSIONS_VADDR }, { session: bs.id }, { op: SessionOps.close }), Codes.FORBIDDEN);
  t.truthy(await w.registry.getSession(bs.id), "box-b's session is still open");
  // Its own session still works end to end.
  const as = checkOpenReply(await open(w.a, 'box-a'));
  t.like(await w.a.ch.request({ vaddr: as.dasp }, 'mine'), { n: 1 });
  t.true(w.logs.filter((l) => l.includes('refused box box-a')).length <= 2, 'logged once per box per minute, not per attempt');
});

test.serial("a box cannot download modules through another box's session", async (t) => {
  const bs = (await w.registry.listSessions({ app: 'mix' })).find((s) => s.box === 'box-b');
  if (bs === undefined) return t.fail('box-b has a session');
  await refusedWith(t, w.a.ch.request({ vaddr: w.node.vaddr('modules') }, { session: bs.id, module: 'search' }, { op: SessionOps.moduleGet }), Codes.FORBIDDEN);
  t.like(await w.b.ch.request({ vaddr: w.node.vaddr('modules') }, { session: bs.id, module: 'search' }, { op: SessionOps.moduleGet }), { module: 'search' });
});
