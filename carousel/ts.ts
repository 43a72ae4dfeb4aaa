// MPEG-2 transport stream framing of sections (13818-1 2.4.3): 188-byte packets, pointer field,
// continuity counters, 0xFF stuffing after the last section in a packet. Sans-IO: the
// packetizer pulls sections, the depacketizer is fed packets and hands out whole sections.

import { CarouselError } from './errors.ts';

export const TS_PACKET = 188;
export const TS_PAYLOAD = 184;
export const SYNC = 0x47;
/** A new section starts in a packet only when this many bytes are left, so no header straddles. */
const MIN_START = 8;

/**
 * Turns a stream of sections for one PID into packets, packing sections back to back; room left
 * after the last section of a packet is stuffed with 0xFF bytes (13818-1 2.4.4.1).
 */
export class SectionPacketizer {
  readonly pid: number;
  #cc = 0;
  #cur: Uint8Array | undefined;
  #off = 0;

  constructor(pid: number) {
    if (!Number.isInteger(pid) || pid < 0 || pid > 0x1ffe) throw new CarouselError('input', `PID ${pid} outside 0..0x1FFE`);
    this.pid = pid;
  }

  /** True while a section is partly sent: the next packet must continue it. */
  get busy(): boolean {
    return this.#cur !== undefined;
  }

  /**
   * The next packet, pulling sections from `next` as room allows; undefined when nothing is in
   * progress and `next` has nothing either.
   */
  packet(next: () => Uint8Array | undefined): Uint8Array | undefined {
    if (this.#cur === undefined) {
      this.#cur = next();
      this.#off = 0;
      if (this.#cur === undefined) return undefined;
    }
    const p = new Uint8Array(TS_PACKET);
    let pos = 4;
    let pusi = false;
    let cur: Uint8Array | undefined = this.#cur;
    if (this.#off === 0) {
      pusi = true;
      p[pos++] = 0; // pointer_field: a section starts right away
    } else {
      const rest = cur.length - this.#off;
      if (rest <= TS_PAYLOAD - 1 - MIN_START) {
        // The section ends here with room to start another: pointer_field skips its tail.
        const following = next();
        if (following !== undefined) {
          pusi = true;
          p[pos++] = rest;
          p.set(cur.subarray(this.#off), pos);
          pos += rest;
          cur = following;
          this.#off = 0;
        }
      }
    }
    // Copy sections back to back until the packet is full or there is nothing to start.
    for (;;) {
      const n = Math.min(TS_PACKET - pos, cur.length - this.#off);
      p.set(cur.subarray(this.#off, this.#off + n), pos);
      pos += n;
      this.#off += n;
      if (this.#off < cur.length) break; // packet full, section continues
      if (!pusi || TS_PACKET - pos < MIN_START) {
        cur = undefined; // a section may start later only in a packet with a pointer_field
        break;
      }
      const following = next();
      if (following === undefined) {
        cur = undefined;
        break;
      }
      cur = following;
      this.#off = 0;
    }
    this.#cur = cur;
    if (cur === undefined) this.#off = 0;
    p.fill(0xff, pos); // stuffing after the last section
    p[0] = SYNC;
    p[1] = (pusi ? 0x40 : 0) | (this.pid >>> 8);
    p[2] = this.pid & 0xff;
    p[3] = 0x10 | this.#cc; // no scrambling, payload only
    this.#cc = (this.#cc + 1) & 0x0f;
    return p;
  }
}

/** A packet of PID 0x1FFF: keeps the bitrate when there is nothing to send. */
export function nullPacket(): Uint8Array {
  const p = new Uint8Array(TS_PACKET).fill(0xff);
  p.set([SYNC, 0x1f, 0xff, 0x10]);
  return p;
}

export interface TsHeader {
  pid: number;
  pusi: boolean;
  cc: number;
  /** Offset of the payload in the packet, or -1 when the packet carries none. */
  payload: number;
}

/** Parse a packet header. Throws CarouselError for a bad sync byte, TEI, scrambling or AFC. */
export function parseTsHeader(p: Uint8Array): TsHeader {
  if (p.length !== TS_PACKET) throw new CarouselError('ts', `packet of ${p.length} bytes (want ${TS_PACKET})`);
  if (p[0] !== SYNC) throw new CarouselError('ts', 'sync byte is not 0x47', { offset: 0 });
  const b1 = p[1] as number;
  const b3 = p[3] as number;
  if (b1 & 0x80) throw new CarouselError('ts', 'transport_error_indicator set');
  if (b3 & 0xc0) throw new CarouselError('ts', 'scrambled packet');
  const afc = (b3 >>> 4) & 0x03;
  if (afc === 0) throw new CarouselError('ts', 'adaptation_field_control 00 is reserved');
  let payload = 4;
  if (afc & 0x02) {
    payload = 5 + (p[4] as number);
    if (payload > TS_PACKET || (afc === 3 && payload === TS_PACKET)) throw new CarouselError('ts', 'adaptation field overruns the packet', { offset: 4 });
  }
  return { pid: ((b1 & 0x1f) << 8) | (p[2] as number), pusi: (b1 & 0x40) !== 0, cc: b3 & 0x0f, payload: afc & 0x01 ? payload : -1 };
}

/** What a packet walk counts: packets seen, packets refused, and the last refusal's message. */
export interface PacketCounts {
  packets: number;
  badPackets: number;
  lastError?: string;
}

/**
 * Walk a datagram's whole 188-byte packets, handing each good one and its header to `onPacket`.
 * A short tail or a bad header is counted in `counts`, never thrown; an error that is not a
 * CarouselError is a bug and is thrown.
 */
export function walkTsPackets(bytes: Uint8Array, counts: PacketCounts, onPacket: (p: Uint8Array, h: TsHeader) => void): void {
  if (bytes.length % TS_PACKET !== 0) {
    counts.badPackets++;
    counts.lastError = new CarouselError('ts', `${bytes.length} bytes is not a whole number of packets`).message;
  }
  for (let at = 0; at + TS_PACKET <= bytes.length; at += TS_PACKET) {
    const p = bytes.subarray(at, at + TS_PACKET);
    counts.packets++;
    let h;
    try {
      h = parseTsHeader(p);
    } catch (e) {
      if (!(e instanceof CarouselError)) throw e;
      counts.badPackets++;
      counts.lastError = e.message;
      continue;
    }
    onPacket(p, h);
  }
}

export interface DepacketizerStats {
  packets: number;
  discontinuities: number;
  duplicates: number;
  /** Partial sections thrown away after a discontinuity or a bad pointer. */
  dropped: number;
  sections: number;
}

/** Reassembles the sections of one PID. Loss shows as a CC discontinuity; the partial section is dropped. */
export class SectionDepacketizer {
  readonly pid: number;
  #cc = -1;
  #last: Uint8Array | undefined;
  #buf: Uint8Array | undefined;
  #have = 0;
  #need = 0;
  #stats: DepacketizerStats = { packets: 0, discontinuities: 0, duplicates: 0, dropped: 0, sections: 0 };

  constructor(pid: number) {
    this.pid = pid;
  }

  stats(): DepacketizerStats {
    return { ...this.#stats };
  }

  /** Feed one packet of this PID (header already parsed); `emit` gets each complete section. */
  push(p: Uint8Array, h: TsHeader, emit: (section: Uint8Array) => void): void {
    this.#stats.packets++;
    if (h.payload < 0) return; // adaptation only: CC does not advance
    if (this.#cc >= 0) {
      if (h.cc === this.#cc && this.#last !== undefined && equal(p, this.#last)) {
        this.#stats.duplicates++; // 13818-1 allows one repeat of a packet
        return;
      }
      if (h.cc !== ((this.#cc + 1) & 0x0f)) {
        this.#stats.discontinuities++;
        this.#drop();
      }
    }
    this.#cc = h.cc;
    this.#last = p;
    let pos = h.payload;
    if (h.pusi) {
      const pointer = p[pos++] as number;
      if (pos + pointer > TS_PACKET) {
        this.#drop();
        return;
      }
      if (this.#buf !== undefined) {
        this.#append(p, pos, pos + pointer, emit);
        if (this.#buf !== undefined) this.#drop(); // the pointer says it ended, it did not
      }
      pos += pointer;
      this.#starts(p, pos, emit);
    } else if (this.#buf !== undefined) {
      this.#append(p, pos, TS_PACKET, emit);
    }
  }

  #starts(p: Uint8Array, pos: number, emit: (s: Uint8Array) => void): void {
    while (pos < TS_PACKET && p[pos] !== 0xff) {
      this.#buf = new Uint8Array(3);
      this.#have = 0;
      this.#need = 3;
      pos = this.#append(p, pos, TS_PACKET, emit);
      if (this.#buf !== undefined) return; // continues in the next packet
    }
  }

  // Copy bytes [from, to) into the section being built; returns where it stopped.
  #append(p: Uint8Array, from: number, to: number, emit: (s: Uint8Array) => void): number {
    let pos = from;
    while (this.#buf !== undefined && pos < to) {
      const n = Math.min(to - pos, this.#need - this.#have);
      this.#buf.set(p.subarray(pos, pos + n), this.#have);
      this.#have += n;
      pos += n;
      if (this.#have < this.#need) break;
      if (this.#need === 3) {
        const len = (((this.#buf[1] as number) & 0x0f) << 8) | (this.#buf[2] as number);
        const grown = new Uint8Array(3 + len);
        grown.set(this.#buf);
        this.#buf = grown;
        this.#need = 3 + len;
        if (len > 0) continue;
      }
      const done = this.#buf;
      this.#buf = undefined;
      this.#stats.sections++;
      emit(done);
    }
    return pos;
  }

  #drop(): void {
    if (this.#buf !== undefined) this.#stats.dropped++;
    this.#buf = undefined;
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
