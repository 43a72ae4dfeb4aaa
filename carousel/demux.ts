// One demux for many receivers in one process (an emulated fleet): TS packets are parsed, sections
// reassembled and CRC-checked and decoded once, then handed to every subscribed receiver; blocks
// go only to receivers that want them (an idle box wants none) [issue 19]. A block that no
// receiver wanted is remembered by its key until one could want more, so an idle fleet's blocks
// cost one lookup each, never decoded [issue 19.5]. Modules verified by one receiver are kept, by
// SHA-256 and within a byte bound, for the others. Sans-IO.

import { positiveInt, rejectUnknown } from '../runtime/index.ts';
import { type BlockKey, type DsmccMessage, TID_DDB, decodeSection } from './dsmcc.ts';
import { CarouselError } from './errors.ts';
import type { SharedModules } from './receiver-types.ts';
import { SectionDepacketizer, walkTsPackets } from './ts.ts';

/** A receiver, as the demux sees it (CarouselReceiver is one). */
export interface DemuxSink {
  readonly pid: number;
  /** Whether blocks of this key are kept or used: asked again only after a change (see `pushMessage`). */
  wants(m: BlockKey): boolean;
  /**
   * `false` when a DSI or DII left `wants` answering as before (a repeat); anything else (true, or
   * nothing) means the sink may want blocks it did not, and the demux asks it again. A sink whose
   * answer changes on its own says so with `CarouselDemux.changed()`.
   */
  pushMessage(m: DsmccMessage): boolean | void;
}

/** Keys remembered as wanted by no receiver, per PID; past it they are all forgotten (asked again). */
const MAX_UNWANTED = 4096;

interface PidState {
  dp: SectionDepacketizer;
  users: number;
  /** Blocks no receiver of this PID wanted, by downloadId then (module id << 8) | version. */
  unwanted: Map<number, Set<number>>;
  size: number;
}

export interface DemuxStats {
  packets: number;
  badPackets: number;
  sections: number;
  badSections: number;
  subscribers: number;
  /** Messages handed to receivers, and blocks no receiver wanted (not decoded, handed to none). */
  delivered: number;
  unwantedBlocks: number;
  /** Times a receiver was asked whether it wants a block (not once per block and receiver: see `changed`). */
  asked: number;
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
  #pids = new Map<number, PidState>();
  #stats = { packets: 0, badPackets: 0, sections: 0, badSections: 0, delivered: 0, unwantedBlocks: 0, asked: 0, lastError: undefined as string | undefined };

  constructor(options: DemuxOptions = {}) {
    rejectUnknown('CarouselDemux', options, ['maxSharedBytes']);
    this.shared = new VerifiedModules(positiveInt('CarouselDemux', 'maxSharedBytes', options.maxSharedBytes ?? 64 * 1024 * 1024));
  }

  /** Hand this receiver every section of its PID from now on; call the result to stop. */
  subscribe(sink: DemuxSink): () => void {
    if (this.#sinks.has(sink)) return () => this.#drop(sink);
    this.#sinks.add(sink);
    const p = this.#pids.get(sink.pid);
    if (p === undefined) this.#pids.set(sink.pid, { dp: new SectionDepacketizer(sink.pid), users: 1, unwanted: new Map(), size: 0 });
    else p.users++;
    this.changed(); // a new receiver wants what it has not seen
    return () => this.#drop(sink);
  }

  /** A receiver may want blocks it did not (e.g. a box swapped its receiver): ask every one again. */
  changed(): void {
    for (const p of this.#pids.values()) {
      p.unwanted.clear();
      p.size = 0;
    }
  }

  get subscribers(): number {
    return this.#sinks.size;
  }

  stats(): DemuxStats {
    return { ...this.#stats, subscribers: this.#sinks.size, shared: this.shared.stats() };
  }

  /** Feed a datagram (whole 188-byte packets). Never throws on bad input. */
  push(bytes: Uint8Array): void {
    walkTsPackets(bytes, this.#stats, (p, h) => {
      const st = this.#pids.get(h.pid);
      st?.dp.push(p, h, (s) => this.#section(h.pid, st, s));
    });
  }

  #section(pid: number, st: PidState, s: Uint8Array): void {
    this.#stats.sections++;
    const key = s[0] === TID_DDB ? blockKey(s) : undefined;
    if (key !== undefined) return this.#block(pid, st, key, s);
    const msg = this.#decode(s);
    if (msg === undefined) return;
    let given = 0;
    let grew = false;
    for (const sink of this.#sinks) {
      if (sink.pid !== pid || (msg.type === 'ddb' && !sink.wants(msg))) continue; // a DDB here has a short header: decode refuses it
      if (sink.pushMessage(msg) !== false) grew = true;
      given++;
    }
    this.#stats.delivered += given;
    if (grew) this.changed();
  }

  // A block: known as wanted by none costs one lookup; else the receivers are asked, and it is
  // decoded (CRC, payload) only when one wants it. A lying header drops only what the CRC would.
  #block(pid: number, st: PidState, key: BlockKey, s: Uint8Array): void {
    const mv = (key.moduleId << 8) | key.version;
    if (st.unwanted.get(key.downloadId)?.has(mv) === true) return void this.#stats.unwantedBlocks++;
    const takers: DemuxSink[] = [];
    for (const sink of this.#sinks) {
      if (sink.pid !== pid) continue;
      this.#stats.asked++;
      if (sink.wants(key)) takers.push(sink);
    }
    if (takers.length === 0) {
      if (st.size >= MAX_UNWANTED) this.changed();
      let set = st.unwanted.get(key.downloadId);
      if (set === undefined) st.unwanted.set(key.downloadId, (set = new Set()));
      set.add(mv);
      st.size++;
      this.#stats.unwantedBlocks++;
      return;
    }
    const msg = this.#decode(s);
    if (msg === undefined) return;
    for (const sink of takers) sink.pushMessage(msg);
    this.#stats.delivered += takers.length;
  }

  #decode(s: Uint8Array): DsmccMessage | undefined {
    try {
      return decodeSection(s);
    } catch (e) {
      this.#stats.badSections++;
      this.#note(e);
      return undefined;
    }
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

/**
 * A DDB section's downloadId, moduleId and version, read where decodeSection reads them (the
 * download data header, its adaptation, then the DDB fields); undefined when the section is too
 * short to hold them (decodeSection then says why).
 */
function blockKey(s: Uint8Array): BlockKey | undefined {
  const a = 20 + (s[17] ?? 0);
  if (s.length < a + 10) return undefined; // DDB fields (6) and the CRC (4)
  const at = (i: number): number => s[i] as number;
  return { downloadId: ((at(12) << 24) | (at(13) << 16) | (at(14) << 8) | at(15)) >>> 0, moduleId: (at(a) << 8) | at(a + 1), version: at(a + 2) };
}
