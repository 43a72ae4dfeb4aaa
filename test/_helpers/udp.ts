// Helpers for UDP transport tests: a raw node:dgram socket that speaks the framing by hand
// (to act as a hostile or misbehaving peer), and an envelope collector that awaits counts.

import { createSocket, type Socket } from 'node:dgram';
import { seededRandom, type Envelope, type Transport } from '../../runtime/index.ts';

export interface RawPeer {
  socket: Socket;
  port: number;
  /** Datagrams received from the transport (ACKs, NACKs, DATA). */
  got: Buffer[];
  send(bytes: Uint8Array | Uint8Array[], port: number): Promise<void>;
  /** Resolves with the first datagram (already received or still to come) that `pred` accepts. */
  waitFor(pred: (d: Buffer) => boolean): Promise<Buffer>;
  close(): Promise<void>;
}

export async function rawPeer(): Promise<RawPeer> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const got: Buffer[] = [];
  let waiters: { pred: (d: Buffer) => boolean; resolve: (d: Buffer) => void }[] = [];
  socket.on('message', (m) => {
    got.push(m);
    const hit = waiters.filter((w) => w.pred(m));
    waiters = waiters.filter((w) => !hit.includes(w));
    for (const w of hit) w.resolve(m);
  });
  return {
    socket,
    port: socket.address().port,
    got,
    waitFor: (pred) => {
      const seen = got.find(pred);
      return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ pred, resolve }));
    },
    send: (bytes, port) => new Promise((resolve, reject) => socket.send(bytes, port, '127.0.0.1', (e) => (e ? reject(e) : resolve()))),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

export interface Collector {
  got: Envelope[];
  /** Resolves once at least n envelopes arrived. */
  next(n: number): Promise<Envelope[]>;
  /** Resolves with the first envelope (already here or still to come) that `pred` accepts. */
  waitFor(pred: (e: Envelope) => boolean): Promise<Envelope>;
}

export function collect(t: Transport): Collector {
  const got: Envelope[] = [];
  let waiters: { n: number; resolve: (e: Envelope[]) => void }[] = [];
  let matchers: { pred: (e: Envelope) => boolean; resolve: (e: Envelope) => void }[] = [];
  t.onEnvelope((e) => {
    got.push(e);
    const ready = waiters.filter((w) => got.length >= w.n);
    waiters = waiters.filter((w) => got.length < w.n);
    for (const w of ready) w.resolve(got.slice(0, w.n));
    const hit = matchers.filter((m) => m.pred(e));
    matchers = matchers.filter((m) => !hit.includes(m));
    for (const m of hit) m.resolve(e);
  });
  return {
    got,
    waitFor: (pred) => {
      const seen = got.find(pred);
      return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => matchers.push({ pred, resolve }));
    },
    next: (n) => (got.length >= n ? Promise.resolve(got.slice(0, n)) : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

/** Deterministic test randomness (runtime's mulberry32). */
export const prng = seededRandom;
