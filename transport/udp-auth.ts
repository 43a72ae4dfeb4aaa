// Datagram authentication of the UDP transport: every datagram out gets a trailer (sender,
// boot epoch, send time, sequence number, truncated HMAC-SHA256 tag); every datagram in is
// verified, checked for age and against the sender's replay window before the transport keeps
// any state for it.
// Byte work and options only: no sockets. docs/PROTOCOL.md ("Authentication") has the layout.

import { ArgumentError, positiveInt, rejectUnknown } from '../runtime/index.ts';
import { COMMON_HEADER, FLAG_AUTH, MAGIC } from './udp-framing.ts';
import { HmacSha256 } from './udp-mac.ts';
import { ReplayTable } from './udp-replay.ts';

/** sender(4) epoch(6) time(4) seq(6) tag(16), at the end of every authenticated datagram. */
export const AUTH_TRAILER = 36;
const TAGGED = AUTH_TRAILER - 16;
export const TAG_BYTES = 16;
const MIN_KEY_BYTES = 16;
const MAX_U48 = 2 ** 48 - 1;

export interface UdpAuthOptions {
  /** The cluster key (>= 16 bytes; a string counts as its UTF-8 bytes): signs and verifies for every sender without a key of its own. */
  key?: Uint8Array | string;
  /** Per-node keys: sender id -> key. A sender listed here must use its own key; others use `key`. */
  keys?: ReadonlyMap<number, Uint8Array | string>;
  /** This transport's sender id (uint32), unique in the cluster. Default: derived from the bound address. */
  sender?: number;
  /** Boot epoch (uint48), larger on every restart of this sender. Default: the wall clock at start, ms. */
  epoch?: number;
  /** Senders whose replay window is kept; the least recently heard is forgotten past this. Default 1024. */
  maxSenders?: number;
  /**
   * A datagram sent longer ago than this (or this far in our future) is refused, ms: bounds a
   * replay to a receiver that holds no window for its sender (restarted, or the sender evicted).
   * Needs the nodes' clocks within it. Default 60000.
   */
  maxAgeMs?: number;
}

export interface ResolvedAuth {
  key: Uint8Array | undefined;
  keys: Map<number, Uint8Array>;
  sender: number | undefined;
  epoch: number;
  maxSenders: number;
  maxAgeMs: number;
}

/** Why a datagram was refused before the transport looked at it; each has its own counter. */
export type AuthRefusal = 'missing' | 'unknownSender' | 'badTag' | 'expired' | 'replayed' | 'stale';

const KNOWN = ['key', 'keys', 'sender', 'epoch', 'maxSenders', 'maxAgeMs'];

/** Validate the `auth` option: undefined or 'off' means no MAC. Unknown names are refused. */
export function resolveAuth(w: string, v: unknown): ResolvedAuth | undefined {
  if (v === undefined || v === 'off') return undefined;
  if (typeof v !== 'object' || v === null) throw new ArgumentError(`${w}: auth must be 'off' or { key, keys?, sender?, epoch?, maxSenders?, maxAgeMs? }`, 'auth');
  const o = v as UdpAuthOptions;
  rejectUnknown(`${w} auth`, o, KNOWN);
  const key = o.key === undefined ? undefined : keyBytes(w, 'auth.key', o.key);
  const keys = new Map<number, Uint8Array>();
  if (o.keys !== undefined) {
    if (!(o.keys instanceof Map)) throw new ArgumentError(`${w}: auth.keys must be a Map of sender id -> key`, 'auth.keys');
    for (const [id, k] of o.keys) keys.set(u32(w, 'auth.keys sender id', id), keyBytes(w, `auth.keys[${String(id)}]`, k));
  }
  if (key === undefined && keys.size === 0) throw new ArgumentError(`${w}: auth needs a cluster key (auth.key) or per-node keys (auth.keys)`, 'auth.key');
  const sender = o.sender === undefined ? undefined : u32(w, 'auth.sender', o.sender);
  if (sender === undefined && key === undefined) throw new ArgumentError(`${w}: auth.sender is needed with per-node keys and no cluster key`, 'auth.sender');
  if (sender !== undefined && key === undefined && !keys.has(sender)) throw new ArgumentError(`${w}: auth.keys has no key for this sender ${sender}`, 'auth.keys');
  const epoch = o.epoch ?? Date.now();
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_U48) throw new ArgumentError(`${w}: auth.epoch must be an integer in 0..2^48-1`, 'auth.epoch');
  const maxSenders = o.maxSenders === undefined ? 1024 : positiveInt(w, 'auth.maxSenders', o.maxSenders);
  const maxAgeMs = o.maxAgeMs === undefined ? 60_000 : positiveInt(w, 'auth.maxAgeMs', o.maxAgeMs);
  return { key, keys, sender, epoch, maxSenders, maxAgeMs };
}

function keyBytes(w: string, name: string, k: unknown): Uint8Array {
  const b = typeof k === 'string' ? Buffer.from(k, 'utf8') : k instanceof Uint8Array ? k : undefined;
  if (b === undefined || b.length < MIN_KEY_BYTES) throw new ArgumentError(`${w}: ${name} must be at least ${MIN_KEY_BYTES} bytes`, name);
  return Uint8Array.from(b);
}

function u32(w: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new ArgumentError(`${w}: ${name} must be a uint32, got ${String(v)}`, name);
  return v;
}

/**
 * A sender id from a stable name (FNV-1a 32), e.g. a node id; the default is the bound
 * address, stable across restarts on the same port.
 */
export function udpSenderId(name: string): number {
  let h = 0x811c9dc5;
  for (const c of name) h = Math.imul(h ^ (c.codePointAt(0) as number), 0x01000193);
  return h >>> 0;
}

export class DatagramAuth {
  readonly sender: number;
  readonly epoch: number;
  readonly replays: ReplayTable;
  readonly maxAgeMs: number;
  #now: () => number;
  #own: HmacSha256;
  #cluster: HmacSha256 | undefined;
  #perNode = new Map<number, HmacSha256>();
  #seq = 0;

  /** `now`: the clock of the send time and of the age check, ms (the transport's clock). */
  constructor(r: ResolvedAuth, sender: number, now: () => number = Date.now) {
    this.sender = sender;
    this.epoch = r.epoch;
    this.maxAgeMs = r.maxAgeMs;
    this.#now = now;
    this.replays = new ReplayTable(r.maxSenders);
    this.#cluster = r.key === undefined ? undefined : new HmacSha256(r.key);
    for (const [id, k] of r.keys) this.#perNode.set(id, new HmacSha256(k));
    const own = this.#perNode.get(sender) ?? this.#cluster;
    if (own === undefined) throw new ArgumentError(`createUdpTransport: auth.keys has no key for this sender ${sender}`, 'auth.keys');
    this.#own = own;
  }

  /** Sign a datagram built with AUTH_TRAILER bytes reserved at its end (in place). */
  seal(d: Buffer): void {
    const at = d.length - AUTH_TRAILER;
    d[4] = (d[4] as number) | FLAG_AUTH;
    d.writeUInt32BE(this.sender, at);
    writeU48(d, at + 4, this.epoch);
    // Send time in whole seconds since the epoch (uint32: 136 years).
    d.writeUInt32BE(Math.min(0xffff_ffff, Math.max(0, Math.floor((this.#now() - this.epoch) / 1000))), at + 10);
    writeU48(d, at + 14, this.#seq++);
    this.#own.sign(d.subarray(0, at + TAGGED), d, at + TAGGED, TAG_BYTES);
  }

  /**
   * Verify an incoming datagram: MAC first, then its age, then the replay window (only
   * authentic, recent datagrams touch it). On success clears the AUTH flag in place: the frame is d[0, length - AUTH_TRAILER).
   */
  open(d: Buffer): AuthRefusal | undefined {
    const len = d.length;
    if (len < COMMON_HEADER + AUTH_TRAILER || d.readUInt16BE(0) !== MAGIC || ((d[4] as number) & FLAG_AUTH) === 0) return 'missing';
    const at = len - AUTH_TRAILER;
    const sender = d.readUInt32BE(at);
    const mac = (this.#perNode.size === 0 ? undefined : this.#perNode.get(sender)) ?? this.#cluster;
    if (mac === undefined) return 'unknownSender';
    if (!mac.verify(d.subarray(0, at + TAGGED), d.subarray(at + TAGGED))) return 'badTag';
    const epoch = readU48(d, at + 4);
    // The time field counts whole seconds: allow one more second on the old side.
    const age = this.#now() - (epoch + d.readUInt32BE(at + 10) * 1000);
    if (age > this.maxAgeMs + 1000 || age < -this.maxAgeMs) return 'expired';
    const verdict = this.replays.check(sender, epoch, readU48(d, at + 14));
    if (verdict !== 'fresh') return verdict;
    d[4] = (d[4] as number) & ~FLAG_AUTH;
    return undefined;
  }
}

// Buffer's generic readUIntBE/writeUIntBE(6) cost more than two fixed-width accesses.
function readU48(d: Buffer, at: number): number {
  return d.readUInt16BE(at) * 2 ** 32 + d.readUInt32BE(at + 2);
}

function writeU48(d: Buffer, at: number, v: number): void {
  d.writeUInt16BE(Math.floor(v / 2 ** 32), at);
  d.writeUInt32BE(v >>> 0, at + 2);
}
