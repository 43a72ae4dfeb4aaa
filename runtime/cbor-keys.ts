// The one rule for `__proto__` map keys in CBOR we encode or decode (envelopes and module state):
// refused with a typed error that names the key path (docs/DECISIONS.md D15). cbor-x would
// otherwise rename the key to `__proto_` on decode, silently changing the value. No I/O here.
//
// The common path costs a byte scan: only bytes that contain "__proto__" are decoded a second time
// into Maps and walked. (cbor-x refuses indefinite-length text, so a key cannot come in chunks.)

import { Decoder } from 'cbor-x';

const NEEDLE = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f]; // "__proto__"
const PROTO = '__proto__';
/** Nodes walked at most; a value past this was already refused by the size limits. */
const MAX_WALK = 1_000_000;

/** A decoder that keeps maps as Maps (keys as written); each codec holds its own. */
export function mapsDecoder(): Decoder {
  return new Decoder({ useRecords: false, mapsAsObjects: false });
}

/** Whether `bytes` (its first `end` bytes) may hold a `__proto__` key (false positives allowed, no false negatives). */
export function mayHoldProtoKey(bytes: Uint8Array, from = 0, end = bytes.length): boolean {
  let i = bytes.indexOf(0x5f, from);
  while (i >= 0 && i + NEEDLE.length <= end) {
    let k = 1;
    while (k < NEEDLE.length && bytes[i + k] === NEEDLE[k]) k++;
    if (k === NEEDLE.length) return true;
    i = bytes.indexOf(0x5f, i + 1);
  }
  return false;
}

/**
 * The path of the first `__proto__` key in the CBOR item `bytes` (`root.a[2].__proto__`), or
 * undefined. Call only when mayHoldProtoKey() said so; throws whatever cbor-x throws on bad bytes.
 */
export function protoKeyPath(bytes: Uint8Array, root: string, decoder: Decoder): string | undefined {
  return findProtoKey(decoder.decode(bytes), root);
}

/** The path of the first `__proto__` key in a decoded value (Maps, objects, arrays), or undefined. */
export function findProtoKey(value: unknown, root: string): string | undefined {
  const stack: [unknown, string][] = [[value, root]];
  let walked = 0;
  while (stack.length > 0 && walked++ < MAX_WALK) {
    const [v, path] = stack.pop() as [unknown, string];
    if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) continue;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}[${i}]`]);
    } else if (v instanceof Map) {
      for (const [k, x] of v) {
        if (k === PROTO) return `${path}.${PROTO}`;
        stack.push([x, `${path}.${String(k)}`]);
      }
    } else {
      for (const k of Object.keys(v)) {
        if (k === PROTO) return `${path}.${PROTO}`;
        stack.push([(v as Record<string, unknown>)[k], `${path}.${k}`]);
      }
    }
  }
  return undefined;
}
