// The envelope codec [c8-c12, c38-c40]: one CBOR record per message, positional fields, a hard
// size limit. Decoding untrusted bytes yields a DecodeError and nothing else. No I/O here.

import { Decoder, Encoder } from 'cbor-x';
import { type Address, checkAddress, isIpLiteral, isVaddr } from './address.ts';
import { DecodeError, EncodeError } from './errors.ts';
import { findProtoKey, mapsDecoder, mayHoldProtoKey } from './cbor-keys.ts';
import { EnvelopeFrames } from './envelope-fast.ts';

export const ENVELOPE_VERSION = 1;

/** Message kinds. `req` expects `rep` or `err`; `ctl` expects `ack`; `msg` and `stat` expect nothing. */
export const KINDS = ['msg', 'req', 'rep', 'err', 'ack', 'ctl', 'stat'] as const;
export type Kind = (typeof KINDS)[number];

export interface Envelope {
  v: 1;
  kind: Kind;
  /** Message id, unique per sending endpoint within the duplicate window (uint32). */
  id: number;
  /** For rep, err and ack: the id of the message answered. */
  corr?: number;
  src: Address;
  dst: Address;
  /** Absolute deadline, ms since the Unix epoch; the receiver drops a request past it. */
  deadline?: number;
  /** Operation name: what the body is (`session.setup`, `client-started`, ...). */
  op?: string;
  /** Opaque to the protocol: any CBOR-encodable value. */
  body?: unknown;
  /** Optional extension fields (element 9, present only when set): see EnvelopeExt. */
  ext?: EnvelopeExt;
}

/**
 * Extension fields, assigned once for the second wave (docs/PROTOCOL.md section 1). `by` is the
 * authenticated principal (`box:<id>` or `node:<id>`) stamped by the node where the message
 * entered the head-end; a receiver trusts it only from an authenticated node and overwrites it
 * at MQTT ingress, so a box can never choose it. `tp` is a W3C traceparent, carried only when the
 * trace is sampled.
 */
export interface EnvelopeExt {
  by?: string;
  tp?: string;
}

/** Body of an `err` envelope. */
export interface ErrorBody {
  code: number;
  message: string;
  data?: unknown;
}

export const DEFAULT_MAX_ENVELOPE_BYTES = 1024 * 1024;
const MAX_OP = 64;
const U32 = 0xffff_ffff;
const FIELDS = 9;
const MAX_EXT_STRING = 200;
const EXT_KEYS = ['by', 'tp'] as const;

export interface CodecOptions {
  /** Hard limit on one encoded envelope, bytes. Default 1 MiB. */
  maxBytes?: number;
}

const kindCode = new Map<Kind, number>(KINDS.map((k, i) => [k, i]));

/**
 * Encoder/decoder pair with its own buffers (no shared module state). Wire layout, in order:
 * [version, kind, id, corr|null, src, dst, deadline|null, op|null, body]; an address is
 * [vaddr|null, queue|null, host|null, port|null]. docs/PROTOCOL.md specifies it.
 */
export class EnvelopeCodec {
  readonly maxBytes: number;
  #enc = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false, useFloat32: 0, variableMapSize: true });
  #dec = new Decoder({ useRecords: false, mapsAsObjects: true });
  #maps = mapsDecoder();
  // [issue 19] the frame by hand, the body by cbor-x, same bytes; left out of the firmware (size).
  #fast = globalThis.WEFT_FIRMWARE === true ? undefined : new EnvelopeFrames(this.#enc, this.#dec, (raw, field) => this.#address(raw, field));
  // Address strings that passed full validation before: most traffic repeats a few peers, so
  // decode skips re-parsing them. Bounded: emptied when full, never trusted without a check.
  #validVaddr = new ValidStrings(isVaddr);
  #validQueue = new ValidStrings(isValidQueue);
  #validHost = new ValidStrings(isIpLiteral);

  constructor(options: CodecOptions = {}) {
    const known = ['maxBytes'];
    for (const k of Object.keys(options)) if (!known.includes(k)) throw new EncodeError(`unknown codec option "${k}"`);
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_ENVELOPE_BYTES;
  }

  /**
   * The envelope's bytes; with `before`/`after`, that many bytes are left free in front and behind
   * for the caller (a datagram's header and trailer), so a transport sends it without a copy.
   */
  encode(env: Envelope, before = 0, after = 0): Uint8Array {
    const kind = kindCode.get(env.kind);
    if (kind === undefined) throw new EncodeError(`unknown kind "${String(env.kind)}"`);
    if (!isU32(env.id)) throw new EncodeError('id must be a uint32');
    if (env.corr !== undefined && !isU32(env.corr)) throw new EncodeError('corr must be a uint32');
    if (env.op !== undefined && (typeof env.op !== 'string' || env.op.length > MAX_OP)) {
      throw new EncodeError(`op must be a string of at most ${MAX_OP} characters`);
    }
    const ext = env.ext === undefined ? undefined : wireExt(env.ext);
    let bytes: Uint8Array | undefined;
    try {
      bytes = this.#fast?.encode(env, kind, ext, before, after);
      if (bytes === undefined) {
        const record: unknown[] = [ENVELOPE_VERSION, kind, env.id, env.corr ?? null, wireAddress(env.src), wireAddress(env.dst), env.deadline ?? null, env.op ?? null, env.body];
        if (ext !== undefined) record.push(ext);
        bytes = this.#enc.encode(record);
        if (before + after > 0) {
          const framed = new Uint8Array(before + bytes.length + after);
          framed.set(bytes, before);
          bytes = framed;
        }
      }
    } catch (cause) {
      throw cause instanceof EncodeError ? cause : new EncodeError('body is not CBOR-encodable', { cause });
    }
    const n = bytes.length - before - after;
    if (n > this.maxBytes) throw new EncodeError(`too large: ${n} > ${this.maxBytes} bytes`);
    const proto = this.#fast?.plain !== true && mayHoldProtoKey(bytes, before, before + n) ? this.#protoKey(bytes.subarray(before, before + n)) : undefined;
    if (proto !== undefined) throw new EncodeError(`a "__proto__" key is refused (${proto})`);
    return bytes;
  }

  /**
   * Decode untrusted bytes: all of `bytes`, or those from `from` to `end` (a datagram's payload,
   * read in place). Throws DecodeError only.
   */
  decode(bytes: Uint8Array, from = 0, end = bytes.length): Envelope {
    if (!(bytes instanceof Uint8Array)) throw new DecodeError('input is not bytes');
    const n = end - from;
    if (n > this.maxBytes) throw new DecodeError(`too large: ${n} > ${this.maxBytes} bytes`);
    if (n <= 0) throw new DecodeError('empty input');
    // A definite array of 9 (0x89), or 10 with the extension map (0x8a), is the only valid first
    // byte: reject garbage before parsing.
    if (bytes[from] !== 0x80 + FIELDS && bytes[from] !== 0x81 + FIELDS) throw new DecodeError('not an envelope record');
    const fast = this.#fast;
    let env: Envelope;
    let plain = false;
    if (globalThis.WEFT_FIRMWARE !== true && fast?.decode(bytes, from, end) === true) {
      env = fast.envelope();
      plain = fast.plain;
    } else {
      let raw: unknown;
      try {
        raw = this.#dec.decode(bytes.subarray(from, end));
      } catch (cause) {
        throw new DecodeError('malformed CBOR', { cause });
      }
      env = this.#fromWire(raw);
    }
    let proto: string | undefined;
    try {
      proto = !plain && mayHoldProtoKey(bytes, from, end) ? this.#protoKey(bytes.subarray(from, end)) : undefined;
    } catch (cause) {
      throw new DecodeError('malformed CBOR', { cause });
    }
    if (proto !== undefined) throw new DecodeError(`a "__proto__" key is refused (${proto})`);
    return env;
  }

  // [D15] cbor-x renames a `__proto__` key to `__proto_`; refuse it instead, naming where it is.
  #protoKey(bytes: Uint8Array): string | undefined {
    if (!mayHoldProtoKey(bytes)) return undefined;
    const w = this.#maps.decode(bytes) as unknown[];
    return findProtoKey(w[8], 'body') ?? findProtoKey(w[FIELDS], 'ext');
  }

  #fromWire(raw: unknown): Envelope {
    if (!Array.isArray(raw) || (raw.length !== FIELDS && raw.length !== FIELDS + 1)) throw new DecodeError('not an envelope record');
    // Indexed reads, not destructuring: this runs once per message (iterator protocol costs).
    const w = raw as unknown[];
    const v = w[0];
    const kind = w[1];
    const id = w[2];
    const corr = w[3];
    const deadline = w[6];
    const op = w[7];
    const body = w[8];
    if (v !== ENVELOPE_VERSION) throw new DecodeError(`unsupported version ${String(v)}`);
    const k = typeof kind === 'number' ? KINDS[kind] : undefined;
    if (k === undefined) throw new DecodeError(`unknown kind ${String(kind)}`);
    if (!isU32(id)) throw new DecodeError('id is not a uint32');
    const env: Envelope = { v: 1, kind: k, id, src: this.#address(w[4], 'src'), dst: this.#address(w[5], 'dst') };
    if (corr !== null) {
      if (!isU32(corr)) throw new DecodeError('corr is not a uint32');
      env.corr = corr;
    }
    if (deadline !== null) {
      if (typeof deadline !== 'number' || !Number.isFinite(deadline) || deadline < 0) throw new DecodeError('bad deadline');
      env.deadline = deadline;
    }
    if (op !== null) {
      if (typeof op !== 'string' || op.length > MAX_OP) throw new DecodeError('bad op');
      env.op = op;
    }
    if (body !== undefined) env.body = body;
    if (w.length > FIELDS) env.ext = extFromWire(w[FIELDS]);
    return env;
  }

  // The same checks as checkAddress, answered from the caches when the strings were seen valid;
  // anything else takes the full path, which names the error exactly as before.
  #address(raw: unknown, field: string): Address {
    if (Array.isArray(raw) && raw.length === 4) {
      const w = raw as unknown[];
      const vaddr = w[0];
      const queue = w[1];
      const host = w[2];
      const port = w[3];
      const a: Address = {};
      let ok = true;
      if (vaddr !== null) {
        if (typeof vaddr === 'string' && this.#validVaddr.check(vaddr)) a.vaddr = vaddr;
        else ok = false;
      }
      if (queue !== null) {
        if (typeof queue === 'string' && this.#validQueue.check(queue)) a.queue = queue;
        else ok = false;
      }
      if (host !== null || port !== null) {
        if (typeof host === 'string' && isPort(port) && this.#validHost.check(host)) a.udp = { host, port };
        else ok = false;
      }
      if (ok && (vaddr !== null || queue !== null || host !== null)) return a;
    }
    return addressFromWire(raw, field);
  }
}

const CACHE_MAX = 1024;

/**
 * Strings that passed a validity check before. The last few are compared first (a decoded
 * string is fresh: `===` compares its characters, cheaper than hashing it for the Set).
 */
class ValidStrings {
  #set = new Set<string>();
  #recent: string[] = ['', '', '', ''];
  #next = 0;
  #valid: (s: string) => boolean;

  constructor(valid: (s: string) => boolean) {
    this.#valid = valid;
  }

  check(s: string): boolean {
    const r = this.#recent;
    if (s === r[0] || s === r[1] || s === r[2] || s === r[3]) return s !== '' || this.#valid(s);
    if (!this.#set.has(s)) {
      if (!this.#valid(s)) return false;
      if (this.#set.size >= CACHE_MAX) this.#set.clear();
      this.#set.add(s);
    }
    r[this.#next] = s;
    this.#next = (this.#next + 1) & 3;
    return true;
  }
}


function isValidQueue(s: string): boolean {
  try {
    checkAddress({ queue: s });
    return true;
  } catch {
    return false;
  }
}

function isPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535;
}

function isU32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= U32;
}

function wireExt(ext: EnvelopeExt): Record<string, string> {
  if (ext === null || typeof ext !== 'object') throw new EncodeError('ext must be an object');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(ext)) {
    if (v === undefined) continue;
    if (!(EXT_KEYS as readonly string[]).includes(k)) throw new EncodeError(`unknown ext field "${k}"`);
    if (typeof v !== 'string' || v.length > MAX_EXT_STRING) throw new EncodeError(`ext.${k} must be a string of at most ${MAX_EXT_STRING} characters`);
    out[k] = v;
  }
  return out;
}

// Unknown extension keys are ignored (a newer sender may add some); known ones are checked.
function extFromWire(raw: unknown): EnvelopeExt {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array) throw new DecodeError('ext is not a map');
  const ext: EnvelopeExt = {};
  const m = raw as Record<string, unknown>;
  for (const k of EXT_KEYS) {
    const v = m[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.length > MAX_EXT_STRING) throw new DecodeError(`bad ext.${k}`);
    ext[k] = v;
  }
  return ext;
}

function wireAddress(a: Address): [string | null, string | null, string | null, number | null] {
  if (a === null || typeof a !== 'object') throw new EncodeError('address must be an object');
  return [a.vaddr ?? null, a.queue ?? null, a.udp?.host ?? null, a.udp?.port ?? null];
}

function addressFromWire(raw: unknown, field: string): Address {
  if (!Array.isArray(raw) || raw.length !== 4) throw new DecodeError(`${field} is not an address`);
  const [vaddr, queue, host, port] = raw as unknown[];
  const a: Record<string, unknown> = {};
  if (vaddr !== null) a.vaddr = vaddr;
  if (queue !== null) a.queue = queue;
  if (host !== null || port !== null) a.udp = { host, port };
  try {
    return checkAddress(a);
  } catch (cause) {
    throw new DecodeError(`${field}: ${(cause as Error).message}`, { cause });
  }
}
