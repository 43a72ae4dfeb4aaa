// `npm run bench -- cbor-lite [--ops N]`: runtime/cbor-lite.ts (the box's CBOR codec) against its
// baseline, cbor-x with the same options, run beside it: encode and decode ops/s of an envelope
// record (the wire array of a typical request) and of a module state (a 200-entry object), timed
// in alternating slices so load from other processes falls on both alike. Ends with one JSON line;
// ratio = cbor-lite ops/s / cbor-x ops/s (>= 1 is faster).
import { performance } from 'node:perf_hooks';
import * as X from 'cbor-x';
import { Decoder, Encoder } from '../runtime/cbor-lite.ts';

const OPTS = { useRecords: false, mapsAsObjects: true, tagUint8Array: false, useFloat32: 0, variableMapSize: true } as const;
const args = process.argv.slice(2);
if (args.length > 0 && (args[0] !== '--ops' || args.length !== 2)) {
  console.error('usage: npm run bench -- cbor-lite [--ops N]');
  process.exit(2);
}
const OPS = args.length === 2 ? Number(args[1]) : 400_000;
if (!Number.isInteger(OPS) || OPS < 10_000 || OPS > 100_000_000) {
  console.error('--ops must be an integer from 10000 to 100000000');
  process.exit(2);
}

const envelope = [1, 1, 123456, null, ['weft://guide/s-8f2c/ui', null, null, null], ['weft://guide/s-8f2c/search', null, '10.0.0.7', 7400], 1_700_000_005_000, 'search', { q: 'news', limit: 10, page: 2 }];
const state = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`channel-${i}`, { n: i, name: `Channel ${i}`, fav: i % 3 === 0, tags: ['hd', 'news'] }]));

/** Ops per second of each function, in alternating slices. */
function timeOps(n: number, fns: (() => unknown)[]): number[] {
  let sink = 0;
  for (const fn of fns) for (let i = 0; i < 20_000; i++) if (fn() !== undefined) sink++; // warm up the JIT
  const spent = fns.map(() => 0);
  const slice = 2_000;
  for (let done = 0; done < n; done += slice) {
    fns.forEach((fn, k) => {
      const t0 = performance.now();
      for (let i = 0; i < slice; i++) if (fn() !== undefined) sink++;
      spent[k] = (spent[k] as number) + (performance.now() - t0);
    });
  }
  if (sink < 0) console.log(sink);
  return spent.map((t) => n / (t / 1000));
}

function pair(name: string, value: unknown, n: number): Record<string, number | string> {
  const le = new Encoder(OPTS);
  const xe = new X.Encoder(OPTS);
  const ld = new Decoder({ useRecords: false, mapsAsObjects: true });
  const xd = new X.Decoder({ useRecords: false, mapsAsObjects: true });
  const bytes = xe.encode(value);
  if (Buffer.compare(Buffer.from(le.encode(value)), Buffer.from(bytes)) !== 0) throw new Error(`${name}: cbor-lite bytes differ from cbor-x`);
  const [liteEnc, xEnc] = timeOps(n, [() => le.encode(value), () => xe.encode(value)]) as [number, number];
  const [liteDec, xDec] = timeOps(n, [() => ld.decode(bytes), () => xd.decode(bytes)]) as [number, number];
  const round = (r: number): number => Math.round(r * 100) / 100;
  return { value: name, bytes: bytes.length, lite_encode_ops: Math.round(liteEnc), cborx_encode_ops: Math.round(xEnc), encode_ratio: round(liteEnc / xEnc), lite_decode_ops: Math.round(liteDec), cborx_decode_ops: Math.round(xDec), decode_ratio: round(liteDec / xDec) };
}

const rows = [pair('envelope', envelope, OPS), pair('state-200', state, Math.max(10_000, Math.round(OPS / 100)))];
for (const r of rows) console.error(JSON.stringify(r));
console.log(JSON.stringify({ bench: 'cbor-lite', ops: OPS, rows }));
