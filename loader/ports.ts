// The ports the box's loader plugs into: the carousel tuner, the return-channel dialer, device
// storage and the CPU. Interfaces only; adapters live in `*-<tech>.ts` files and in devices/.

import type { DemuxSink, SharedModules } from '../carousel/index.ts';
import type { Transport } from '../runtime/index.ts';

/** The first channel [c1, c3]: carousel datagrams (whole 188-byte TS packets) from the tuner. */
export interface Tuner {
  /**
   * Start delivering datagrams to `onData` until the returned handle is closed. Resolves once the
   * first attempt is over, tuned or not: an adapter that could not tune keeps retrying on its own
   * and reports each outcome to `onStatus`.
   */
  tune(onData: (bytes: Uint8Array) => void, onStatus?: (s: TunerStatus) => void): Promise<Tuned>;
  /**
   * Offered by a tuner that many boxes of one process share (devices/fleet.ts): it demuxes once
   * and hands `sink` decoded sections, blocks only when `sink.wants` them. Preferred when present.
   */
  subscribe?(sink: DemuxSink, onStatus?: (s: TunerStatus) => void): Promise<Tuned>;
  /** With `subscribe`: modules any box of the process verified, shared by SHA-256. */
  readonly shared?: SharedModules;
}

/** What a tune attempt came to: tuned, or failed with the delay before the next attempt. */
export type TunerStatus =
  | { kind: 'tuned'; attempt: number }
  | { kind: 'tune-failed'; attempt: number; error: import('./errors.ts').TunerError; retryInMs: number };

export interface Tuned {
  close(): Promise<void>;
  /** With `subscribe`: the sink may want blocks it did not (a new receiver behind it); the demux asks it again. */
  changed?(): void;
}

export type LinkEvent = 'up' | 'down' | 'closed';

export interface DialRequest {
  /** Round-trip estimate for the dead-path timeout (3 RTT + margin), ms. */
  rttMs: number;
  /** Attempts in a row that ended in a dead-path timeout: the adapter doubles its timeout per one. */
  consecutiveTimeouts: number;
  /** The adapter reports link changes after the first connect here (it reconnects on its own). */
  onLink: (state: LinkEvent, cause?: Error) => void;
  /**
   * [13.4] A dial that timed out (a dead-path verdict) may keep its connection open for a while; if
   * the broker answers late, the adapter hands the channel here, between attempts. True: taken
   * (the box is up on it); false: not wanted (the adapter closes it).
   */
  onLate?: (channel: ReturnChannel) => boolean;
  /**
   * [19] A connection kept after `undone` dead-path verdicts (of this request or earlier ones) was
   * answered busy (CONNACK 3): the path is alive, those verdicts were wrong. Told before the
   * request's own outcome when it waited on that connection.
   */
  onBusy?: (undone: number) => void;
}

/** An established two-way channel: the transport, and what it measured. */
export interface ReturnChannel {
  readonly transport: Transport;
  /** Smoothed round-trip time to the head-end's broker, ms. */
  rttMs(): number;
  /** Dead-path verdicts given on this channel's connection before its broker answered (0 or absent: none). */
  readonly verdictsUndone?: number;
}

/**
 * The second channel [c1, c2]: one connect attempt. Resolves with the channel, or rejects with
 * TimeoutError (a dead path: nothing answered within the RTT-derived timeout), or another
 * WeftError (refused, reset, bad credentials). `close`, when present, ends whatever the adapter
 * keeps between attempts (a connection waiting for a late answer): the box calls it when it stops.
 */
export type Dialer = ((request: DialRequest) => Promise<ReturnChannel>) & { close?: () => Promise<void> };

/**
 * Device storage (flash or disk) with the profile's capacity. Synchronous: box storage is local
 * and the carousel receiver asks for cached modules while it parses.
 */
export interface DeviceStorage {
  /** Bytes the device has for Weft (0: none). */
  readonly capacity: number;
  used(): number;
  read(key: string): Uint8Array | undefined;
  /** False (and nothing written) when it would not fit in the capacity. */
  write(key: string, bytes: Uint8Array): boolean;
  remove(key: string): void;
  keys(): string[];
}

/**
 * Where guest code runs. Every entry into the sandbox goes through `run`, never synchronously
 * (a module's host call must not re-enter the app runtime). The emulator throttles here.
 */
export interface Cpu {
  run<T>(fn: () => T): Promise<T>;
  /** Share of recent time spent running guest code, 0..1. */
  load(): number;
  /** Milliseconds for sandbox deadlines: a slow emulated CPU makes guest time pass faster. */
  now(): number;
}
