// W3C trace context (https://www.w3.org/TR/trace-context/) as the envelope's `ext.tp`: parse,
// format, child spans and the sampling decision. Platform-neutral (box and head-end), no I/O.
// A trace travels only when sampled, so unsampled traffic carries no `ext` at all.

/** One span's place in a trace: 32 and 16 lower-case hex digits. */
export interface TraceContext {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** A traceparent from the wire, or undefined when it is not a valid version-00 one (never throws). */
export function parseTraceparent(tp: unknown): TraceContext | undefined {
  if (typeof tp !== 'string' || tp.length !== 55) return undefined;
  const m = TRACEPARENT.exec(tp);
  if (m === null) return undefined;
  const [, traceId, spanId, flags] = m as unknown as [string, string, string, string];
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

export function formatTraceparent(c: TraceContext): string {
  return `00-${c.traceId}-${c.spanId}-${c.sampled ? '01' : '00'}`;
}

/** `n` random hex digits from a uniform [0,1) source (a seeded one in tests). */
function hex(n: number, random: () => number): string {
  let s = '';
  while (s.length < n) s += Math.floor(random() * 0x1_0000_0000).toString(16).padStart(8, '0');
  s = s.slice(0, n);
  return /^0+$/.test(s) ? `${s.slice(0, -1)}1` : s;
}

/** A new sampled trace with its root span. */
export function newTrace(random: () => number): TraceContext {
  return { traceId: hex(32, random), spanId: hex(16, random), sampled: true };
}

/** A child span of `parent` (same trace, new span id). */
export function childSpan(parent: TraceContext, random: () => number): TraceContext {
  return { traceId: parent.traceId, spanId: hex(16, random), sampled: parent.sampled };
}

/** Largest accepted sampling rate denominator: rates are fractions of requests in [0, 1]. */
export function checkSampleRate(rate: unknown, what = 'trace sample rate'): number {
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0 || rate > 1) throw new RangeError(`${what} must be a number in 0..1, got ${String(rate)}`);
  return rate;
}

/**
 * The sampling decision of a request's origin: a function giving a fresh traceparent for a
 * sampled request and undefined otherwise, or undefined itself when the rate is 0 (tracing off:
 * the caller then does nothing per request).
 */
export function traceSampler(rate: number, random: () => number): (() => string | undefined) | undefined {
  checkSampleRate(rate);
  if (rate === 0) return undefined;
  return () => (rate >= 1 || random() < rate ? formatTraceparent(newTrace(random)) : undefined);
}
