// One envelope of every kind, the inputs of the golden hex fixtures in envelopes.golden.json.
import type { Envelope } from '../../runtime/index.ts';

const box = { vaddr: 'weft://guide/s-8f2c/ui' };
const search = { vaddr: 'weft://guide/s-8f2c/search', udp: { host: '10.0.0.7', port: 7400 } };

export const goldenEnvelopes: Record<string, Envelope> = {
  msg: { v: 1, kind: 'msg', id: 1, src: box, dst: { queue: 'q7' }, op: 'key', body: { key: 'OK' } },
  req: { v: 1, kind: 'req', id: 2, src: box, dst: search, deadline: 1_700_000_005_000, op: 'search', body: { q: 'news', limit: 10 } },
  rep: { v: 1, kind: 'rep', id: 9, corr: 2, src: search, dst: box, op: 'search', body: [{ title: 'News at Ten', ch: 101 }] },
  err: { v: 1, kind: 'err', id: 10, corr: 2, src: search, dst: box, body: { code: 3, message: 'deadline passed' } },
  ack: { v: 1, kind: 'ack', id: 11, corr: 3, src: { queue: 'balancer' }, dst: box, op: 'client-started' },
  ctl: { v: 1, kind: 'ctl', id: 3, src: box, dst: { vaddr: 'weft://headend/*/sessions' }, deadline: 1_700_000_010_000, op: 'client-started', body: { session: 's-8f2c' } },
  stat: { v: 1, kind: 'stat', id: 4, src: { udp: { host: '10.0.0.7', port: 7400 } }, dst: { queue: 'stats' }, op: 'node.load', body: { cpu: 0.42, mem: 123456789, lagMs: 1.5, bytes: new Uint8Array([1, 2, 3]) } },
};

/** An envelope from generated fields, leaving out the optional ones that came out undefined. */
export function envelopeOf(r: Omit<Envelope, 'v'>): Envelope {
  const e: Envelope = { v: 1, kind: r.kind, id: r.id, src: r.src, dst: r.dst };
  if (r.corr !== undefined) e.corr = r.corr;
  if (r.deadline !== undefined) e.deadline = r.deadline;
  if (r.op !== undefined) e.op = r.op;
  if (r.body !== undefined) e.body = r.body;
  if (r.ext !== undefined) e.ext = r.ext;
  return e;
}
