// Trace context end to end [issue 17]: a box's sampled request goes over MQTT to node-1, over
// UDP to node-2 and into the portion there, and its answer comes back to the box; every hop's
// span (InMemorySpanExporter) and log line (pino, trace_id) is in the one trace the box began.
import test from 'ava';
import { pino } from 'pino';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { Channel, SESSIONS_VADDR, SessionOps, checkOpenReply, ok, parseTraceparent, traceSampler, type Envelope } from '../../runtime/index.ts';
import { Balancer, SeededRandom, type PlacementPolicy } from '../../policy/index.ts';
import { OtelNodeTracer } from '../../headend/trace/tracer-otel.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryRegistry, testNode } from '../_helpers/headend.ts';
import { aedesBroker, secretOf, transport, until } from '../_helpers/mqtt-fixtures.ts';

const onNode2: PlacementPolicy = {
  name: 'node-2',
  place: (view, req) => {
    const i = view.nodes.findIndex((n) => n.node === 'node-2');
    return i >= 0 ? ok({ node: 'node-2', index: i, score: 0 }) : new Balancer({ random: new SeededRandom(1).uniform() }).place(view, req);
  },
};

test('one trace id at box, node-1, node-2 and the portion for a sampled request; none for an unsampled one', async (t) => {
  const broker = await aedesBroker();
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const registry = memoryRegistry();
  const spans = new InMemorySpanExporter();
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const tracers = ['node-1', 'node-2'].map((node) => new OtelNodeTracer({ node, export: spans, logger }));
  const n1 = await testNode({ id: 'node-1', registry, apps: [pub], trusted, policy: onNode2, tracer: tracers[0], mqtt: { url: broker.url, password: secretOf('node-1') } });
  const n2 = await testNode({ id: 'node-2', registry, apps: [pub], trusted, tracer: tracers[1], mqtt: { url: broker.url, password: secretOf('node-2'), ingress: false } });
  const boxT = await transport(broker.url, 'box-a');
  try {
    await n1.refreshPeers();
    await n2.refreshPeers();
    await until(() => n1.statistics.clusterView().nodes.length === 2, 10_000, 'node-1 sees node-2');
    // The box's module channel, as the loader builds it with --trace-rate 1: every request sampled.
    const started: string[] = [];
    const sample = traceSampler(1, new SeededRandom(5).uniform()) as () => string;
    const answers: Envelope[] = [];
    let traced = true;
    const ch = new Channel({
      self: { vaddr: 'weft://box/box-a/inbox' },
      write: (e: Envelope) => boxT.send(e),
      timeoutMs: 10_000,
      traceparent: () => {
        if (!traced) return undefined;
        const tp = sample();
        started.push(tp);
        return tp;
      },
    });
    boxT.onEnvelope((e) => (answers.push(e), ch.receive(e)));
    const report = { boxId: 'box-a', profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low' as const, cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: 0 };
    const s = checkOpenReply(await ch.request({ vaddr: SESSIONS_VADDR }, { app: 'mix', version: '1.0.0', boxId: 'box-a', report }, { op: SessionOps.open }));
    t.is(s.node, 'node-2');
    spans.reset();
    answers.length = 0;
    lines.length = 0;
    started.length = 0;
    t.like(await ch.request({ vaddr: s.dasp }, { q: 1 }), { n: 1 });
    const traceId = parseTraceparent(started[0])?.traceId as string;
    t.truthy(traceId);
    // Back at the box: the answer carries the same trace.
    t.is(parseTraceparent(answers.at(-1)?.ext?.tp)?.traceId, traceId, 'box: the answer is in the trace it began');
    await until(() => spans.getFinishedSpans().some((x) => x.attributes['weft.portion'] !== undefined), 5000, 'the portion span');
    const got = spans.getFinishedSpans();
    t.true(got.every((x) => x.spanContext().traceId === traceId), 'one trace id on every span');
    const where = (node: string, kind: string): boolean => got.some((x) => x.attributes['weft.node'] === node && x.name === kind);
    t.true(where('node-1', 'weft.req'), 'node-1 routed the request (MQTT in)');
    t.true(where('node-2', 'weft.req'), 'node-2 received it over UDP');
    t.true(got.some((x) => x.attributes['weft.node'] === 'node-2' && x.attributes['weft.module'] === 'counter'), 'the portion span on node-2');
    t.true(where('node-2', 'weft.rep'), 'the answer left node-2 in the trace');
    // Each hop is a child of the one before: node-2's route span has node-1's as parent.
    const n1Span = got.find((x) => x.attributes['weft.node'] === 'node-1' && x.name === 'weft.req');
    const n2Span = got.find((x) => x.attributes['weft.node'] === 'node-2' && x.name === 'weft.req');
    t.is(n2Span?.parentSpanContext?.spanId, n1Span?.spanContext().spanId);
    t.true(lines.some((l) => l.trace_id === traceId && l.node === 'node-2' && l.event === 'trace.portion'), 'a log line with trace_id and span_id');
    // Unsampled: no ext on the wire, no span, no line.
    traced = false;
    spans.reset();
    answers.length = 0;
    await ch.request({ vaddr: s.dasp }, { q: 2 });
    t.is(spans.getFinishedSpans().length, 0);
    t.is(answers.at(-1)?.ext, undefined);
  } finally {
    await boxT.close();
    await n1.close();
    await n2.close();
    for (const tr of tracers) await tr.close();
    await registry.close();
    await broker.close();
  }
});
