// Options of the UDP transport: names, defaults and validation (unknown names are refused).
// Each default says why it is what it is; transport/README.md repeats them for operators.

import { ArgumentError, type Clock, DEFAULT_MAX_ENVELOPE_BYTES, type UdpAddress, isIpLiteral, nonNegative, positiveInt, rejectUnknown, systemClock } from '../runtime/index.ts';
import { AUTH_TRAILER, resolveAuth, type ResolvedAuth, type UdpAuthOptions } from './udp-auth.ts';
import { MAX_DATA_HEADER, MAX_FRAGMENTS } from './udp-framing.ts';
import type { ReassemblyLimits } from './udp-reassembly.ts';

/** Test hook: return true to drop the datagram (`out`: before it is written; `in`: on arrival). */
export type DropFilter = (direction: 'in' | 'out', datagram: Uint8Array, peer: UdpAddress) => boolean;

export interface UdpTransportOptions {
  /** IP literal to bind. Default 127.0.0.1. */
  host?: string;
  /** UDP port to bind; 0 picks a free one (see `address`). Default 0. */
  port?: number;
  /** Largest UDP payload written, bytes (header included). Default 1400: fits a 1500-byte Ethernet MTU. */
  mtu?: number;
  /** Retransmission timeout before any round trip was measured, ms. Default 50. */
  initialRtoMs?: number;
  /** Floor of the measured timeout, ms. Default 20: loopback RTTs are microseconds, event loops are not. */
  minRtoMs?: number;
  /** Ceiling of the doubled timeout, ms. Default 2000. */
  maxRtoMs?: number;
  /** How long an ack waits for a DATA to the same peer to ride on, ms (0: one event-loop turn). Default 2. */
  ackDelayMs?: number;
  /** Retransmissions before send gives up with TimeoutError, when the deadline does not end it first. Default 8. */
  maxRetries?: number;
  /** Largest envelope, bytes (the codec limit). Default 1 MiB. */
  maxMessageBytes?: number;
  /** Partial transfers held per peer. Default 32. */
  maxPartialPerPeer?: number;
  /** Partial transfers held over all peers. Default 256. */
  maxPartialTotal?: number;
  /** Fragment bytes held for reassembly over all peers. Default 32 MiB. */
  maxReassemblyBytes?: number;
  /** A partial transfer older than this is dropped, ms. Default 5000. */
  reassemblyTimeoutMs?: number;
  /** Completed transfers are remembered this long to suppress duplicates, ms. Default 30000 (> the longest retransmission run). */
  dedupWindowMs?: number;
  /** Completed transfer ids remembered per peer. Default 4096. */
  maxDedupPerPeer?: number;
  /** Peers with state; the least recently heard is forgotten past this. Default 256. */
  maxPeers?: number;
  /** Envelopes kept while no handler is set. Default 1024. */
  maxQueued?: number;
  /** SO_RCVBUF, bytes. Default 8 MiB: smaller buffers drop 8-30% of a loopback burst. */
  recvBufferSize?: number;
  /** SO_SNDBUF, bytes. Default 4 MiB. */
  sendBufferSize?: number;
  /**
   * A MAC (truncated HMAC-SHA256) on every datagram and a replay window per sender, checked
   * before any other state is kept; datagrams without a valid one are dropped. Default 'off'
   * (no MAC): both ends need the same key, so the composition root (headend/main.ts) gives it.
   */
  auth?: UdpAuthOptions | 'off';
  clock?: Clock;
  dropFilter?: DropFilter;
}

export interface ResolvedOptions extends ReassemblyLimits {
  host: string;
  port: number;
  mtu: number;
  fragmentBytes: number;
  initialRtoMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  maxRetries: number;
  ackDelayMs: number;
  maxPeers: number;
  maxQueued: number;
  recvBufferSize: number;
  sendBufferSize: number;
  clock: Clock;
  dropFilter: DropFilter | undefined;
  auth: ResolvedAuth | undefined;
  /** Bytes at the end of each datagram for the authentication trailer (0 without auth). */
  tail: number;
}

const KNOWN = [
  'host', 'port', 'mtu', 'initialRtoMs', 'minRtoMs', 'maxRtoMs', 'maxRetries', 'ackDelayMs', 'maxMessageBytes', 'maxPartialPerPeer',
  'maxPartialTotal', 'maxReassemblyBytes', 'reassemblyTimeoutMs', 'dedupWindowMs', 'maxDedupPerPeer', 'maxPeers', 'maxQueued',
  'recvBufferSize', 'sendBufferSize', 'auth', 'clock', 'dropFilter',
];
const W = 'createUdpTransport';
const MIN_MTU = 256;
const MAX_MTU = 65507;

export function resolveOptions(o: UdpTransportOptions = {}): ResolvedOptions {
  rejectUnknown(W, o, KNOWN);
  const host = o.host ?? '127.0.0.1';
  if (typeof host !== 'string' || !isIpLiteral(host)) throw new ArgumentError(`${W}: host must be an IP literal, got ${String(host)}`, 'host');
  const port = o.port ?? 0;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ArgumentError(`${W}: port must be an integer in 0..65535, got ${String(port)}`, 'port');
  }
  const mtu = int('mtu', o.mtu, 1400, MAX_MTU);
  if (mtu < MIN_MTU) throw new ArgumentError(`${W}: mtu must be at least ${MIN_MTU}`, 'mtu');
  const auth = resolveAuth(W, o.auth);
  const tail = auth === undefined ? 0 : AUTH_TRAILER;
  const fragmentBytes = mtu - MAX_DATA_HEADER - tail;
  const maxMessageBytes = int('maxMessageBytes', o.maxMessageBytes, DEFAULT_MAX_ENVELOPE_BYTES);
  if (Math.ceil(maxMessageBytes / fragmentBytes) > MAX_FRAGMENTS) {
    throw new ArgumentError(`${W}: maxMessageBytes needs more than ${MAX_FRAGMENTS} fragments at this mtu`, 'maxMessageBytes');
  }
  const minRtoMs = num('minRtoMs', o.minRtoMs, 20);
  // An ack must not wait long enough to make the sender retransmit: at most a quarter of minRtoMs.
  const ackDelayMs = num('ackDelayMs', o.ackDelayMs, Math.min(2, minRtoMs / 4));
  if (ackDelayMs * 4 > minRtoMs) throw new ArgumentError(`${W}: ackDelayMs must be at most minRtoMs / 4`, 'ackDelayMs');
  const maxRtoMs = num('maxRtoMs', o.maxRtoMs, 2000);
  if (maxRtoMs < minRtoMs) throw new ArgumentError(`${W}: maxRtoMs must be >= minRtoMs`, 'maxRtoMs');
  if (o.clock !== undefined && (typeof o.clock !== 'object' || typeof o.clock.now !== 'function')) throw new ArgumentError(`${W}: clock must be a Clock`, 'clock');
  if (o.dropFilter !== undefined && typeof o.dropFilter !== 'function') throw new ArgumentError(`${W}: dropFilter must be a function`, 'dropFilter');
  return {
    host,
    port,
    mtu,
    fragmentBytes,
    initialRtoMs: num('initialRtoMs', o.initialRtoMs, 50),
    minRtoMs,
    maxRtoMs,
    maxRetries: o.maxRetries === 0 ? 0 : int('maxRetries', o.maxRetries, 8),
    ackDelayMs,
    maxMessageBytes,
    // Fragments a receiver accepts per transfer: enough for maxMessageBytes at the smallest mtu.
    maxFragments: Math.min(MAX_FRAGMENTS, Math.ceil(maxMessageBytes / (MIN_MTU - MAX_DATA_HEADER - tail))),
    maxPartialPerPeer: int('maxPartialPerPeer', o.maxPartialPerPeer, 32),
    maxPartialTotal: int('maxPartialTotal', o.maxPartialTotal, 256),
    maxReassemblyBytes: int('maxReassemblyBytes', o.maxReassemblyBytes, 32 * 1024 * 1024),
    reassemblyTimeoutMs: num('reassemblyTimeoutMs', o.reassemblyTimeoutMs, 5000),
    dedupWindowMs: num('dedupWindowMs', o.dedupWindowMs, 30_000),
    maxDedupPerPeer: int('maxDedupPerPeer', o.maxDedupPerPeer, 4096),
    maxPeers: int('maxPeers', o.maxPeers, 256),
    maxQueued: o.maxQueued === 0 ? 0 : int('maxQueued', o.maxQueued, 1024),
    recvBufferSize: int('recvBufferSize', o.recvBufferSize, 8 * 1024 * 1024),
    sendBufferSize: int('sendBufferSize', o.sendBufferSize, 4 * 1024 * 1024),
    clock: o.clock ?? systemClock,
    dropFilter: o.dropFilter,
    auth,
    tail,
  };
}

function int(name: string, v: unknown, dflt: number, max?: number): number {
  return v === undefined ? dflt : positiveInt(W, name, v, max);
}

function num(name: string, v: unknown, dflt: number): number {
  return v === undefined ? dflt : nonNegative(W, name, v);
}
