// The node's trace port [issue 17]: what the head-end tells a tracer about an envelope that
// carries a sampled W3C traceparent (ext.tp). The node calls it only for such envelopes, so with
// tracing off (no tracer, or unsampled traffic) it costs one property check per envelope.
// The adapter (tracer-otel.ts) records spans, exports them where configured and logs with
// trace_id/span_id. Nothing here imports OpenTelemetry: the firmware never bundles it.

import type { Envelope } from '../../runtime/index.ts';

export interface NodeTracer {
  /**
   * A sampled envelope is routed by this node: record the hop and give the traceparent it goes
   * on with (this hop's span), so the next node's span is a child of this one.
   */
  route(env: Envelope): string | undefined;
  /** A sampled request is handed to a portion instance here. */
  portionIn(env: Envelope, iid: string, module: string): void;
  /** A portion instance's answer to a sampled request leaves it. */
  portionOut(env: Envelope, iid: string): void;
  /** A sampled request could not be delivered (logged as a warning with its trace id). */
  failed(env: Envelope, why: string): void;
  /** Flush exported spans and stop. */
  close(): Promise<void>;
}

/** Span names: `weft.<kind> <op>` (`weft.req guide.search`). */
export function spanName(env: Envelope): string {
  return `weft.${env.kind}${env.op === undefined ? '' : ` ${env.op}`}`;
}
