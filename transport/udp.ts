// The IP/UDP adapter of the Transport port [c11]: envelopes to another server's IP/UDP pair.
// Reliable kinds are acknowledged and retransmitted with backoff; duplicates are suppressed;
// large envelopes are fragmented (udp-framing.ts, udp-reassembly.ts). With `auth`, every
// datagram is signed and verified (udp-auth.ts) before any peer state is kept. Owns one socket.

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { AddressError, ChannelClosedError, Codes, EnvelopeCodec, TimeoutError, WeftError } from '../runtime/index.ts';
import type { Address, Envelope, EnvelopeHandler, SendDone, TimerHandle, Transport } from '../runtime/index.ts';
import { AckBatcher } from './udp-acks.ts';
import { DatagramAuth, udpSenderId } from './udp-auth.ts';
import { COMMON_HEADER, FLAG_POLL, FLAG_RELIABLE, MAX_PIGGYBACK_ACKS, NACK_FIELDS, ackAt, dataDatagram, dataHeaderBytes, dataDatagramAround, encodeForDatagram, nackDatagram, parseDatagram, singleData, transferBefore, type DataFrame, type NackFrame } from './udp-framing.ts';
import { resolveOptions, type ResolvedOptions, type UdpTransportOptions } from './udp-options.ts';
import { Peer, PeerTable, literalLookup, type PartialTransfer } from './udp-peers.ts';
import { Reassembler } from './udp-reassembly.ts';
import { countMalformed, countRefusal, newStats, type UdpStats, type UdpStatsSnapshot } from './udp-stats.ts';
import { Outgoing } from './udp-outgoing.ts';
import { RetransmitQueue } from './udp-timers.ts';

/** Kinds that expect an answer or carry one: sent reliably. msg and stat are best effort. */
const RELIABLE = new Set<string>(['req', 'rep', 'err', 'ctl', 'ack']);

/** Bind a UDP socket and return the transport on it. Rejects unknown options by name. */
export async function createUdpTransport(options: UdpTransportOptions = {}): Promise<UdpTransport> {
  const o = resolveOptions(options);
  const socket = createSocket({ type: isIPv4(o.host) ? 'udp4' : 'udp6', recvBufferSize: o.recvBufferSize, sendBufferSize: o.sendBufferSize, lookup: literalLookup });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => reject(new AddressError(`cannot bind udp ${o.host}:${o.port}: ${e.message}`, { host: o.host, port: o.port }, { cause: e }));
    socket.once('error', onError);
    socket.bind(o.port, o.host, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  return new UdpTransport(socket, o);
}

export class UdpTransport implements Transport {
  readonly kind = 'udp';
  readonly address: Address;
  #socket: Socket;
  #o: ResolvedOptions;
  #codec: EnvelopeCodec;
  #peers: PeerTable;
  #rx: Reassembler;
  #out = new Map<number, Outgoing>();
  #rtq: RetransmitQueue;
  // Ids stay below 2^30 so V8 keeps them as small integers (fast Map keys); the wire allows uint32.
  #nextTransfer = Math.floor(Math.random() * 0x3fff_ffff);
  #handler: EnvelopeHandler | undefined;
  #queued: Envelope[] = [];
  #acks: AckBatcher;
  #sweepTimer: TimerHandle | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  #stats: UdpStats = newStats();
  #v4: boolean;
  #lastPeer: Peer | undefined;
  #auth: DatagramAuth | undefined;
  #tail: number;

  /** Use createUdpTransport; this takes a bound socket. */
  constructor(socket: Socket, o: ResolvedOptions) {
    this.#socket = socket;
    this.#o = o;
    this.#codec = new EnvelopeCodec({ maxBytes: o.maxMessageBytes });
    this.#peers = new PeerTable(o.maxPeers, o.maxDedupPerPeer, (p) => this.#rx.dropPeer(p));
    this.#rx = new Reassembler(o, () => this.#peers.values());
    // Acks wait a moment so a reply written meanwhile carries them (piggyback).
    this.#acks = new AckBatcher(o.mtu, o.ackDelayMs, (peer, d) => this.#write(peer, d), o.tail);
    this.#rtq = new RetransmitQueue(o.clock, (t, due) => this.#out.get(t)?.due === due, (t) => this.#onRto(this.#out.get(t) as Outgoing));
    this.#v4 = socket.address().family === 'IPv4';
    this.address = { udp: { host: o.host, port: socket.address().port } };
    this.#tail = o.tail;
    this.#auth = o.auth === undefined ? undefined : new DatagramAuth(o.auth, o.auth.sender ?? udpSenderId(`${o.host}|${socket.address().port}`), () => o.clock.now());
    socket.on('message', this.#onDatagram);
    socket.on('error', () => void this.#stats.socketErrors++);
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(env: Envelope): Promise<void> {
    return new Promise<void>((resolve, reject) => this.post(env, (e) => (e ? reject(e) : resolve())));
  }
  /** [issue 19] `send` without a promise (runtime/transport.ts): `done` is told the outcome. Never throws. */
  post(env: Envelope, done: SendDone): void {
    if (this.#closed) return done(new ChannelClosedError('udp transport closed'), env);
    try {
      const udp = env.dst?.udp;
      if (udp === undefined) return done(new AddressError('udp transport needs dst.udp (resolve virtual addresses first)', env.dst), env);
      const peer = this.#peerFor(udp.host, udp.port);
      if (peer === undefined) return done(new AddressError(`dst ${udp.host}:${udp.port} is not reachable from a ${this.#v4 ? 'IPv4' : 'IPv6'} socket`, env.dst), env);
      // [issue 19] encoded into the datagram: room for its header (and the acks acks.take gives) in front, the trailer behind.
      const room = dataHeaderBytes(Math.min(peer.pendingAcks.length, MAX_PIGGYBACK_ACKS));
      const framed = encodeForDatagram(this.#codec, env, this.#tail, room);
      const size = framed.length - room - this.#tail;
      const reliable = RELIABLE.has(env.kind);
      const now = this.#o.clock.now();
      const deadline = reliable && env.deadline !== undefined ? env.deadline : Infinity;
      if (deadline <= now) {
        this.#stats.expired++;
        return done(new TimeoutError(`${env.kind} deadline passed before it was sent`, 0), env);
      }
      const transfer = this.#nextTransfer;
      this.#nextTransfer = (transfer + 1) & 0x3fff_ffff;
      const count = Math.max(1, Math.ceil(size / this.#o.fragmentBytes));
      this.#stats.sent++;
      if (!reliable) return this.#sendBestEffort(peer, transfer, framed, room, count, env, done);
      const out = new Outgoing(transfer, peer, framed, room, this.#tail, count, this.#o.fragmentBytes, deadline, now, env, done);
      out.rto = peer.rto(this.#o.initialRtoMs, this.#o.minRtoMs, this.#o.maxRtoMs);
      if (count === 1) this.#write(peer, dataDatagramAround(framed, FLAG_RELIABLE | FLAG_POLL, this.#acks.take(peer), transfer, 0, 1, room));
      else this.#writeRound(out);
      this.#out.set(transfer, out);
      this.#arm(out, now);
    } catch (e) {
      done(e instanceof WeftError ? e : new WeftError(Codes.INTERNAL, `udp send failed: ${String(e)}`, { cause: e }), env);
    }
  }

  onEnvelope(handler: EnvelopeHandler): void {
    this.#handler = handler;
    const queued = this.#queued;
    this.#queued = [];
    for (const env of queued) this.#deliver(env);
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    const err = new ChannelClosedError('udp transport closed with the send pending');
    this.#rtq.clear();
    for (const out of this.#out.values()) out.reject(err);
    this.#out.clear();
    this.#acks.clear();
    if (this.#sweepTimer !== undefined) this.#o.clock.clearTimeout(this.#sweepTimer);
    for (const p of this.#peers.values()) this.#rx.dropPeer(p);
    this.#peers.clear();
    this.#lastPeer = undefined;
    this.#stats.dropped += this.#queued.length;
    this.#queued = [];
    this.#closing = new Promise<void>((resolve) => this.#socket.close(() => resolve()));
    return this.#closing;
  }

  stats(): UdpStatsSnapshot {
    return {
      ...this.#stats,
      pendingSends: this.#out.size,
      acksSent: this.#acks.sent,
      acksPiggybacked: this.#acks.piggybacked,
      partialTransfers: this.#rx.partials,
      evictedPartials: this.#rx.evicted,
      reassemblyBytes: this.#rx.bytes,
      peers: this.#peers.size,
      authSenders: this.#auth?.replays.size ?? 0,
      authSendersEvicted: this.#auth?.replays.evicted ?? 0,
      queued: this.#queued.length,
    };
  }

  /** Measured smoothed round trip to host:port in ms, or undefined before the first sample. */
  rttMs(host: string, port: number): number | undefined {
    const srtt = this.#peers.find(host, port)?.srtt;
    return srtt === undefined || srtt < 0 ? undefined : srtt;
  }

  // ---- sending ----

  // Most sends go to the peer of the previous one: skip the family check and the table lookup.
  #peerFor(host: string, port: number): Peer | undefined {
    const last = this.#lastPeer;
    if (last !== undefined && last.port === port && last.host === host && !last.evicted) return this.#peers.seen(last);
    if (typeof host !== 'string' || isIPv4(host) !== this.#v4 || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
    const peer = this.#peers.touch(host, port);
    this.#lastPeer = peer;
    return peer;
  }

  #sendBestEffort(peer: Peer, transfer: number, framed: Buffer, room: number, count: number, env: Envelope, done: SendDone): void {
    const size = this.#o.fragmentBytes;
    const sent = (e: Error | null): void => done(e ? new WeftError(Codes.UNAVAILABLE, `udp send failed: ${e.message}`, { cause: e }) : undefined, env);
    if (count === 1) return this.#write(peer, dataDatagramAround(framed, 0, this.#acks.take(peer), transfer, 0, 1, room), sent);
    const bytes = framed.subarray(room, framed.length - this.#tail);
    for (let i = 0; i < count; i++) {
      const last = i === count - 1;
      const frag = bytes.subarray(i * size, (i + 1) * size);
      this.#write(peer, dataDatagram(0, this.#acks.take(peer), transfer, i, count, frag, this.#tail), last ? sent : undefined);
    }
  }

  /** Write every fragment the peer is not known to hold; the last one polls for its state. */
  #writeRound(out: Outgoing): void {
    if (out.count === 1) {
      this.#write(out.peer, dataDatagram(FLAG_RELIABLE | FLAG_POLL, this.#acks.take(out.peer), out.transfer, 0, 1, out.bytes, this.#tail));
      return;
    }
    const missing = out.missing();
    for (let j = 0; j < missing.length; j++) {
      const i = missing[j] as number;
      const flags = j === missing.length - 1 ? FLAG_RELIABLE | FLAG_POLL : FLAG_RELIABLE;
      this.#write(out.peer, dataDatagram(flags, this.#acks.take(out.peer), out.transfer, i, out.count, out.fragment(i), this.#tail));
    }
  }

  // [c11] retransmit with exponential backoff until acknowledged, the deadline, or maxRetries.
  #arm(out: Outgoing, now = this.#o.clock.now()): void {
    out.due = Math.min(now + out.rto, out.deadline);
    this.#rtq.schedule(out.transfer, out.due);
  }

  #onRto(out: Outgoing): void {
    if (out.tries >= this.#o.maxRetries || this.#o.clock.now() >= out.deadline) {
      // [13.4] Fired late (our loop stalled; timers run before input): the ack may sit unread.
      if (out.putOffLate(this.#o.clock.now())) return this.#rtq.schedule(out.transfer, out.due);
      this.#out.delete(out.transfer);
      this.#stats.timeouts++;
      const ms = this.#o.clock.now() - out.sentAt;
      out.reject(new TimeoutError(`no acknowledgement from ${out.peer.host}:${out.peer.port} after ${out.tries + 1} transmissions (${ms} ms)`, ms));
      return;
    }
    out.tries++;
    this.#stats.retransmits++;
    out.rto = Math.min(this.#o.maxRtoMs, Math.max(out.rto * 2, 1));
    this.#writeRound(out);
    this.#arm(out);
  }

  #onNack(peer: Peer, f: NackFrame): void {
    const out = this.#out.get(f.transfer);
    if (out === undefined || out.peer.key !== peer.key || out.count !== f.count) return;
    // Only a NACK that shows progress triggers a fast round, so rounds are bounded by count.
    if (!out.merge(f.received)) return;
    this.#stats.fastRetransmits++;
    this.#writeRound(out);
    this.#arm(out);
  }

  #onAcks(peer: Peer, acks: readonly number[], now: number): void {
    for (const id of acks) this.#onAck(peer, id, now);
    if (this.#out.size === 0) this.#rtq.forgetAll();
  }

  #onAck(peer: Peer, id: number, now: number): void {
    const out = this.#out.get(id);
    if (out === undefined || out.peer.key !== peer.key) return void this.#stats.strayAcks++;
    this.#out.delete(id);
    this.#stats.acked++;
    if (out.tries === 0) peer.sample(now - out.sentAt);
    out.resolve();
  }

  /** A whole envelope's bytes (from..end of `bytes`), decoded and delivered; counted when malformed. */
  #open(bytes: Uint8Array, from: number, end: number): void {
    let env: Envelope;
    try {
      env = this.#codec.decode(bytes, from, end);
    } catch {
      this.#stats.malformed++;
      this.#stats.malformedEnvelope++;
      return;
    }
    this.#stats.received++;
    this.#deliver(env);
  }

  #write(peer: Peer, datagram: Buffer, cb?: (e: Error | null) => void): void {
    const filter = this.#o.dropFilter;
    // The hook sees the frame as parseDatagram reads it: before signing, without the trailer.
    if (filter !== undefined && filter('out', this.#tail === 0 ? datagram : datagram.subarray(0, datagram.length - this.#tail), { host: peer.host, port: peer.port })) {
      this.#stats.filteredOut++;
      cb?.(null);
      return;
    }
    this.#auth?.seal(datagram);
    this.#stats.datagramsOut++;
    if (cb === undefined) this.#socket.send(datagram, peer.port, peer.host);
    else this.#socket.send(datagram, peer.port, peer.host, cb);
  }

  // ---- receiving ----

  #onDatagram = (msg: Buffer, rinfo: RemoteInfo): void => {
    if (this.#closed) return;
    const s = this.#stats;
    s.datagramsIn++;
    const filter = this.#o.dropFilter;
    if (filter !== undefined && filter('in', msg, { host: rinfo.address, port: rinfo.port })) {
      s.filteredIn++;
      return;
    }
    // Bounded before any work: a datagram longer than our mtu is no peer's (and caps the MAC's cost).
    if (msg.length > this.#o.mtu) {
      s.oversized++;
      return;
    }
    const auth = this.#auth;
    if (auth !== undefined) {
      const refused = auth.open(msg);
      if (refused !== undefined) return countRefusal(s, refused);
    }
    const end = msg.length - this.#tail;
    const at = singleData(msg, end);
    const f = at < 0 ? parseDatagram(this.#tail === 0 ? msg : msg.subarray(0, end)) : undefined;
    if (f?.type === 'bad') return countMalformed(s, f.reason);
    const last = this.#lastPeer;
    const peer =
      last !== undefined && last.port === rinfo.port && last.host === rinfo.address && !last.evicted ? this.#peers.seen(last) : this.#peers.touch(rinfo.address, rinfo.port);
    this.#lastPeer = peer;
    const now = this.#o.clock.now();
    if (f === undefined) return this.#onSingle(peer, msg, at, end, now);
    if (f.acks.length > 0) this.#onAcks(peer, f.acks, now);
    if (f.type === 'data') this.#onData(peer, f, end, now);
    else if (f.type === 'nack') this.#onNack(peer, f);
  };

  // [issue 19] A DATA datagram of one fragment, read in place (udp-framing.ts singleData): what
  // #onAcks and #onData's `complete` and `duplicate` do, without the frame, its acks or a payload view.
  #onSingle(peer: Peer, d: Buffer, at: number, end: number, now: number): void {
    const n = d[5] as number;
    for (let i = 0; i < n; i++) this.#onAck(peer, ackAt(d, i), now);
    if (n > 0 && this.#out.size === 0) this.#rtq.forgetAll();
    const transfer = transferBefore(d, at);
    if (((d[4] as number) & FLAG_RELIABLE) !== 0) this.#acks.queue(peer, transfer);
    if (this.#rx.single(peer, transfer, now)) this.#open(d, at, end);
    else this.#stats.duplicates++;
  }

  #onData(peer: Peer, f: DataFrame, size: number, now: number): void {
    const s = this.#stats;
    const reliable = (f.flags & FLAG_RELIABLE) !== 0;
    const r = this.#rx.accept(peer, f, now);
    switch (r.kind) {
      case 'complete':
        if (reliable) this.#acks.queue(peer, f.transfer);
        return this.#open(r.bytes, 0, r.bytes.length);
      case 'duplicate':
        s.duplicates++;
        if (reliable) this.#acks.queue(peer, f.transfer); // the first ack was lost: ack again
        return;
      case 'partial':
        if (!r.fresh) s.duplicateFragments++;
        this.#armSweep();
        if (reliable && (f.flags & FLAG_POLL) !== 0) this.#answerPoll(peer, f, size, r.partial);
        return;
      case 'dropped':
        if (r.reason === 'fragment') {
          s.malformed++;
          s.malformedFragment++;
        } else if (r.reason === 'partialLimit') s.droppedPartialLimit++;
        else if (r.reason === 'bytesLimit') s.droppedBytesLimit++;
        else s.droppedTooLarge++;
        return;
    }
  }

  // No amplification: a NACK is never bigger than the POLL that asked for it, and the same state
  // is told at most once per minRtoMs (a sender's next round comes after its RTO anyway).
  #answerPoll(peer: Peer, f: DataFrame, size: number, p: PartialTransfer): void {
    const now = this.#o.clock.now();
    if (COMMON_HEADER + NACK_FIELDS + p.received.length > size || (p.have === p.nackedHave && now - p.nackedAt < this.#o.minRtoMs)) {
      this.#stats.nacksSuppressed++;
      return;
    }
    p.nackedAt = now;
    p.nackedHave = p.have;
    this.#stats.nacksSent++;
    this.#write(peer, nackDatagram(f.transfer, f.count, p.received, this.#tail));
  }

  #deliver(env: Envelope): void {
    const handler = this.#handler;
    if (handler === undefined) {
      if (this.#queued.length < this.#o.maxQueued) this.#queued.push(env);
      else this.#stats.dropped++;
      return;
    }
    try {
      handler(env);
    } catch {
      this.#stats.handlerErrors++;
    }
  }

  // One sweep timer while partial transfers exist: expires them after reassemblyTimeoutMs.
  #armSweep(): void {
    if (this.#sweepTimer !== undefined || this.#closed) return;
    const every = Math.max(5, this.#o.reassemblyTimeoutMs / 4);
    this.#sweepTimer = this.#o.clock.setTimeout(() => {
      this.#sweepTimer = undefined;
      this.#stats.reassemblyTimeouts += this.#rx.sweep(this.#peers.values(), this.#o.clock.now());
      if (this.#rx.partials > 0) this.#armSweep();
    }, every);
  }
}
