// One demux for many receivers in one process (an emulated fleet): TS packets are parsed, sections
// reassembled and CRC-checked and decoded once, then handed to every subscribed receiver; blocks
// go only to receivers that want them (an idle box wants none) [issue 19]. Modules verified by one
// receiver are kept, by SHA-256 and within a byte bound, for the others. Sans-IO.

import { positiveInt, rejectUnknown } from '../runtime/index.ts';
import { type DdbMessage, type DsmccMessage, decodeSection } from './dsmcc.ts';
import { CarouselError } from './errors.ts';
import type { SharedModules } from './receiver-types.ts';
import { SectionDepacketizer, walkTsPackets } from './ts.ts';

/** A receiver, as the demux sees it (CarouselReceiver is one). */
export interface DemuxSink {
  readonly pid: number;
  wants(m: DdbMessage): boolean;
  pushMessage(m: DsmccMessage): void;
}

export interface DemuxStats {
  packets: number;
  badPackets: number;
  sections: number;
  badSections: number;
  subscribers: number;
  /** Messages handed to receivers, and blocks no receiver wanted (decoded once, handed to none). */
  delivered: number;
  unwantedBlocks: number;
  shared: { modules: number; bytes: number; hits: number };
  lastError: string | undefined;
}

export interface DemuxOptions {
  /** Bytes of verified modules kept for other receivers (least recently used go first). Default 64 MiB. */
  maxSharedBytes?: number;
}

/** Verified modules by SHA-256, bounded by bytes, least recently used evicted first. */
export class VerifiedModules implements SharedModules {
  #max: number;
  #map = new Map<string, Uint8Array>();
  #bytes = 0;
  hits = 0;

  constructor(maxBytes: number) {
    this.#max = maxBytes;
  }

  get(sha256: string): Uint8Array | undefined {
    const b = this.#map.get(sha256);
    if (b === undefined) return undefined;
    this.#map.delete(sha256); // most recently used last
    this.#map.set(sha256, b);
    this.hits++;
    return b;
  }

  put(sha256: string, bytes: Uint8Array): void {
    if (this.#map.has(sha256) || bytes.length > this.#max) return;
    this.#map.set(sha256, bytes);
    this.#bytes += bytes.length;
    for (const [k, v] of this.#map) {
      if (this.#bytes <= this.#max) break;
      this.#map.delete(k);
      this.#bytes -= v.length;
    }
  }

  stats(): { modules: number; bytes: number; hits: number } {
    return { modules: this.#map.size, bytes: this.#bytes, hits: this.hits };
  }
}

export class CarouselDemux {
  readonly shared: VerifiedModules;
  #sinks = new Set<DemuxSink>();
  #pids = new Map<number, { dp: SectionDepacketizer; users: number }>();
  #stats = { packets: 0, badPackets: 0, sections: 0, badSections: 0, delivered: 0, unwantedBlocks: 0, lastError: undefined as string | undefined };

  constructor(options: DemuxOptions = {}) {
    rejectUnknown('CarouselDemux', options, ['maxSharedBytes']);
    this.shared = new VerifiedModules(positiveInt('CarouselDemux', 'maxSharedBytes', options.maxSharedBytes ?? 64 * 1024 * 1024));
  }

  /** Hand this receiver every section of its PID from now on; call the result to stop. */
  subscribe(sink: DemuxSink): () => void {
    if (this.#sinks.has(sink)) return () => this.#drop(sink);
    this.#sinks.add(sink);
    const p = this.#pids.get(sink.pid);
    if (p === undefined) this.#pids.set(sink.pid, { dp: new SectionDepacketizer(sink.pid), users: 1 });
    else p.users++;
    return () => this.#drop(sink);
  }

  get subscribers(): number {
    return this.#sinks.size;
  }

  stats(): DemuxStats {
    return { ...this.#stats, subscribers: this.#sinks.size, shared: this.shared.stats() };
  }

  /** Feed a datagram (whole 188-byte packets). Never throws on bad input. */
  push(bytes: Uint8Array): void {
    walkTsPackets(bytes, this.#stats, (p, h) => this.#pids.get(h.pid)?.dp.push(p, h, (s) => this.#section(h.pid, s)));
  }

  #section(pid: number, s: Uint8Array): void {
    this.#stats.sections++;
    let msg: DsmccMessage;
    try {
      msg = decodeSection(s);
    } catch (e) {
      this.#stats.badSections++;
      this.#note(e);
      return;
    }
    let given = 0;
    for (const sink of this.#sinks) {
      if (sink.pid !== pid || (msg.type === 'ddb' && !sink.wants(msg))) continue;
      sink.pushMessage(msg);
      given++;
    }
    this.#stats.delivered += given;
    if (given === 0 && msg.type === 'ddb') this.#stats.unwantedBlocks++;
  }

  #drop(sink: DemuxSink): void {
    if (!this.#sinks.delete(sink)) return;
    const p = this.#pids.get(sink.pid);
    if (p !== undefined && --p.users === 0) this.#pids.delete(sink.pid);
  }

  #note(e: unknown): void {
    if (!(e instanceof CarouselError)) throw e; // a bug, not bad input
    this.#stats.lastError = e.message;
  }
}
