// The NodeTracer adapter on OpenTelemetry (the only file that imports it): a tracer provider per
// node (no global state), spans parented on the envelope's traceparent, exported over OTLP/HTTP
// when an endpoint is configured (or to any SpanExporter a test gives), and a pino line per hop
// with trace_id and span_id. Off by default: the composition root builds it only when asked.

import { SpanKind, SpanStatusCode, TraceFlags, context, trace, type Span, type Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { formatTraceparent, parseTraceparent, rejectUnknown, type Envelope } from '../../runtime/index.ts';
import type { Logger } from '../log.ts';
import { spanName, type NodeTracer } from './tracer.ts';

export interface OtelTracerOptions {
  node: string;
  /** OTLP/HTTP traces endpoint (`http://collector:4318/v1/traces`), or a SpanExporter (tests: InMemorySpanExporter). Absent: spans are only logged. */
  export?: string | SpanExporter;
  /** Where hop lines go (trace_id, span_id); absent: no lines. */
  logger?: Logger;
  version?: string;
}

/** Portion spans waiting for their answer, at most; the oldest is ended when full (a lost answer). */
const MAX_OPEN_SPANS = 10_000;

export class OtelNodeTracer implements NodeTracer {
  readonly #provider: BasicTracerProvider;
  readonly #tracer: Tracer;
  readonly #node: string;
  readonly #logger: Logger | undefined;
  readonly #open = new Map<string, Span>();
  /** Spans recorded, answers matched, lines refused for a malformed traceparent. */
  readonly counters = { spans: 0, malformed: 0, unmatched: 0 };

  constructor(o: OtelTracerOptions) {
    rejectUnknown('OtelNodeTracer', o, ['node', 'export', 'logger', 'version']);
    this.#node = o.node;
    this.#logger = o.logger;
    const processors: SpanProcessor[] = [];
    if (typeof o.export === 'string') processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: o.export })));
    else if (o.export !== undefined) processors.push(new SimpleSpanProcessor(o.export));
    const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'weft-headend', [ATTR_SERVICE_VERSION]: o.version ?? '0', 'weft.node': o.node });
    this.#provider = new BasicTracerProvider({ resource, spanProcessors: processors });
    this.#tracer = this.#provider.getTracer('weft');
  }

  route(env: Envelope): string | undefined {
    const span = this.#start(env, env.kind === 'req' ? SpanKind.SERVER : SpanKind.INTERNAL, 'route');
    if (span === undefined) return undefined;
    span.end();
    const c = span.spanContext();
    return formatTraceparent({ traceId: c.traceId, spanId: c.spanId, sampled: true });
  }

  portionIn(env: Envelope, iid: string, module: string): void {
    if (env.kind !== 'req') return;
    const span = this.#start(env, SpanKind.CONSUMER, 'portion', { 'weft.portion': iid, 'weft.module': module });
    if (span === undefined) return;
    if (this.#open.size >= MAX_OPEN_SPANS) {
      const [oldest, s] = this.#open.entries().next().value as [string, Span];
      s.end();
      this.#open.delete(oldest);
      this.counters.unmatched++;
    }
    this.#open.set(`${iid}|${env.id}|${env.src.vaddr ?? ''}`, span);
  }

  portionOut(env: Envelope, iid: string): void {
    if (env.corr === undefined) return;
    const key = `${iid}|${env.corr}|${env.dst.vaddr ?? ''}`;
    const span = this.#open.get(key);
    if (span === undefined) return;
    this.#open.delete(key);
    if (env.kind === 'err') span.setStatus({ code: SpanStatusCode.ERROR, message: String((env.body as { message?: unknown } | undefined)?.message ?? 'error') });
    span.end();
  }

  failed(env: Envelope, why: string): void {
    const span = this.#start(env, SpanKind.INTERNAL, 'failed', { 'weft.error': why }, 'warn');
    span?.setStatus({ code: SpanStatusCode.ERROR, message: why });
    span?.end();
  }

  async close(): Promise<void> {
    for (const s of this.#open.values()) s.end();
    this.#open.clear();
    await this.#provider.shutdown();
  }

  #start(env: Envelope, kind: SpanKind, event: string, attrs: Record<string, string> = {}, level: 'info' | 'warn' = 'info'): Span | undefined {
    const parent = parseTraceparent(env.ext?.tp);
    if (parent === undefined || !parent.sampled) {
      this.counters.malformed++;
      return undefined;
    }
    const ctx = trace.setSpanContext(context.active(), { traceId: parent.traceId, spanId: parent.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    const span = this.#tracer.startSpan(spanName(env), { kind, attributes: { 'weft.node': this.#node, 'weft.dst': env.dst.vaddr ?? '', ...attrs } }, ctx);
    this.counters.spans++;
    const c = span.spanContext();
    this.#logger?.[level]({ event: `trace.${event}`, node: this.#node, trace_id: c.traceId, span_id: c.spanId, parent_id: parent.spanId, kind: env.kind, op: env.op, dst: env.dst.vaddr, ...attrs }, `${event} ${spanName(env)}`);
    return span;
  }
}
