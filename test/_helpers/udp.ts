// Helpers for UDP transport tests: a raw node:dgram socket that speaks the framing by hand
// (to act as a hostile or misbehaving peer), and an envelope collector that awaits counts.

import { createSocket, type Socket } from 'node:dgram';
import type { Envelope, Transport } from '../../runtime/index.ts';

export interface RawPeer {
  socket: Socket;
  port: number;
  /** Datagrams received from the transport (ACKs, NACKs, DATA). */
  got: Buffer[];
  send(bytes: Uint8Array | Uint8Array[], port: number): Promise<void>;
  close(): Promise<void>;
}

export async function rawPeer(): Promise<RawPeer> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const got: Buffer[] = [];
  socket.on('message', (m) => got.push(m));
  return {
    socket,
    port: socket.address().port,
    got,
    send: (bytes, port) => new Promise((resolve, reject) => socket.send(bytes, port, '127.0.0.1', (e) => (e ? reject(e) : resolve()))),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

export interface Collector {
  got: Envelope[];
  /** Resolves once at least n envelopes arrived. */
  next(n: number): Promise<Envelope[]>;
}

export function collect(t: Transport): Collector {
  const got: Envelope[] = [];
  let waiters: { n: number; resolve: (e: Envelope[]) => void }[] = [];
  t.onEnvelope((e) => {
    got.push(e);
    const ready = waiters.filter((w) => got.length >= w.n);
    waiters = waiters.filter((w) => got.length < w.n);
    for (const w of ready) w.resolve(got.slice(0, w.n));
  });
  return {
    got,
    next: (n) => (got.length >= n ? Promise.resolve(got.slice(0, n)) : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

/** A small deterministic PRNG (mulberry32) so lossy-link tests repeat exactly. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
