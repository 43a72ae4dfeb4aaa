// The receiver: fed TS bytes, it acquires the modules of the requested tiers [c1, c3]. Joins
// mid-cycle (blocks before the DII are buffered), any order, loss, reordering and duplicates,
// FEC repair, CRC and SHA-256 checks, progress events, and per-module restarts on a version
// change. Sans-IO: no socket, no timer. Untrusted bytes never throw; they count in stats().

import { ArgumentError, positiveInt, rejectUnknown } from '../runtime/index.ts';
import { type GroupState, type ModState, assemble, blockCount, codeBlockOf, fecState, tierProgress, tryRepair } from './acquisition.ts';
import { toHex } from './bytes.ts';
import { type BlockKey, type DdbMessage, type DiiMessage, type DsiMessage, type DsmccMessage, TID_DDB, decodeSection } from './dsmcc.ts';
import { CarouselError } from './errors.ts';
import { HeldBytes } from './held.ts';
import { sha256Hex } from './hash.ts';
import { type CarouselModule, type ModuleKind, TIERS, type Tier, isTier } from './module-set.ts';
import type { ReceiverEvent, ReceiverOptions, ReceiverStats, SharedModules } from './receiver-types.ts';
import { SectionDepacketizer, walkTsPackets } from './ts.ts';

export type { ReceiverEvent, ReceiverOptions, ReceiverStats, SharedModules } from './receiver-types.ts';

const KEYS = ['tiers', 'pid', 'downloadId', 'maxBufferBytes', 'maxHeldBytes', 'cached', 'shared', 'onEvent'];

export class CarouselReceiver {
  readonly tiers: readonly Tier[];
  #pid: number;
  #downloadId: number | undefined;
  #maxBuffer: number;
  #held: HeldBytes;
  #cached: ReceiverOptions['cached'];
  #shared: SharedModules | undefined;
  #emit: (e: ReceiverEvent) => void;
  #ts: SectionDepacketizer;
  #dsi: DsiMessage | undefined;
  #groups = new Map<number, GroupState>();
  #modules = new Map<number, ModState>();
  /** Blocks before their DII, by (module id << 8) | version, then block number. */
  #pending = new Map<number, Map<number, Uint8Array>>();
  #pendingBytes = 0;
  #tierDone = new Map<Tier, number>();
  #lastFraction = new Map<Tier, number>();
  #stats: Omit<ReceiverStats, 'discontinuities' | 'heldBytes'> = {
    packets: 0, badPackets: 0, sections: 0, badSections: 0, blocks: 0, duplicateBlocks: 0, badBlocks: 0, buffered: 0, repairedBlocks: 0, corrupt: 0, quotaRefused: 0, refusedBlocks: 0, lastError: undefined,
  };

  constructor(options: ReceiverOptions = {}) {
    rejectUnknown('CarouselReceiver', options, KEYS);
    const tiers = options.tiers ?? ['boot'];
    if (!Array.isArray(tiers) || tiers.length === 0 || !tiers.every(isTier)) {
      throw new ArgumentError(`CarouselReceiver: tiers must be a non-empty list of ${TIERS.join(', ')}`, 'tiers');
    }
    this.tiers = [...new Set(tiers)];
    this.#pid = positiveInt('CarouselReceiver', 'pid', options.pid ?? 0x0200, 0x1ffe);
    this.#downloadId = options.downloadId;
    this.#held = new HeldBytes(positiveInt('CarouselReceiver', 'maxHeldBytes', options.maxHeldBytes ?? 64 * 1024 * 1024));
    this.#maxBuffer = Math.min(this.#held.quota, options.maxBufferBytes ?? 16 * 1024 * 1024);
    this.#cached = options.cached;
    this.#shared = options.shared;
    this.#emit = options.onEvent ?? (() => {});
    this.#ts = new SectionDepacketizer(this.#pid);
  }

  /** PID of the carousel sections this receiver takes. */
  get pid(): number {
    return this.#pid;
  }

  /** True when every requested tier is acquired and verified for the current DSI. */
  get done(): boolean {
    return this.tiers.every((t) => this.tierDone(t));
  }

  tierDone(tier: Tier): boolean {
    return this.#dsi !== undefined && this.#tierDone.get(tier) === this.#dsi.transactionId;
  }

  /** Verified modules of the requested tiers (the manifest and signature among them). */
  modules(): CarouselModule[] {
    const out: CarouselModule[] = [];
    for (const m of this.#modules.values()) if (m.wanted && m.done !== undefined && m.kind !== 'fec') out.push(publicModule(m));
    return out;
  }

  stats(): ReceiverStats {
    return { ...this.#stats, discontinuities: this.#ts.stats().discontinuities, heldBytes: this.#held.reserved + this.#pendingBytes };
  }

  /** Feed a datagram or any run of whole 188-byte packets. Never throws on bad input. */
  push(bytes: Uint8Array): void {
    walkTsPackets(bytes, this.#stats, (p, h) => (h.pid === this.#pid ? this.#ts.push(p, h, (s) => this.pushSection(s)) : undefined));
  }

  /** Feed one complete section (the depacketizer does this; tests may too). */
  pushSection(s: Uint8Array): void {
    this.#stats.sections++;
    // [issue 18] A block of a module that is done or not wanted is known by its header (table_id_extension
    // is the moduleId; the version follows the adaptation header): dropped before the CRC and the decode,
    // as #onDdb would, this is most of a warm box's carousel CPU. A lying header drops only what the CRC would.
    const st = s[0] === TID_DDB && this.#downloadId === undefined ? this.#modules.get(((s[3] as number) << 8) | (s[4] as number)) : undefined;
    if (st && !(st.wanted && !st.done) && st.version === s[22 + (s[17] as number)]) return void (this.#stats.blocks++, this.#stats.duplicateBlocks++);
    let msg;
    try {
      msg = decodeSection(s);
    } catch (e) {
      this.#stats.badSections++;
      this.#note(e);
      return;
    }
    this.pushMessage(msg);
  }

  /**
   * Feed one decoded message: a shared demux (demux.ts) decodes each section once for many receivers.
   * False when `wants` answers as before it (a block, or a DSI or DII seen already): true when the
   * message could make this receiver want blocks it did not, so a demux asks it again.
   */
  pushMessage(msg: DsmccMessage): boolean {
    return msg.type === 'ddb' ? (this.#onDdb(msg), false) : msg.type === 'dii' ? this.#onDii(msg) : this.#onDsi(msg);
  }

  /** Whether this block would be kept or used; a demux hands over only those (an idle box: none). */
  wants(m: BlockKey): boolean {
    if (this.#downloadId !== undefined && m.downloadId !== this.#downloadId) return false;
    const st = this.#modules.get(m.moduleId);
    if (st === undefined || st.version !== m.version) return !this.#held.refusedBlock((m.moduleId << 8) | m.version); // kept for its DII
    if (st.kind === 'fec') return st.wanted && !this.tierDone(st.tier); // repair symbols help until the tier is in
    return st.wanted && st.done === undefined;
  }

  #note(e: unknown): void {
    if (!(e instanceof CarouselError)) throw e; // a bug, not bad input
    this.#stats.lastError = e.message;
  }

  #onDsi(m: DsiMessage): boolean {
    if (this.#dsi?.transactionId === m.transactionId) return false;
    this.#dsi = m;
    const idents = new Set(m.groups.map((g) => (g.groupId >>> 1) & 0x7fff));
    for (const [ident, g] of this.#groups) {
      if (idents.has(ident)) continue;
      this.#dropGroup(g);
    }
    this.#emit({ kind: 'dsi', transactionId: m.transactionId, appId: m.appId, appVersion: m.appVersion, groups: m.groups.length });
    this.#checkTiers();
    return true;
  }

  // True unless the DII changed nothing (another download, seen, or refused before).
  #onDii(m: DiiMessage): boolean {
    if (this.#downloadId !== undefined && m.downloadId !== this.#downloadId) return false;
    const ident = (m.transactionId >>> 1) & 0x7fff;
    const old = this.#groups.get(ident);
    if (old !== undefined && old.transactionId === m.transactionId) return false;
    if (this.#held.refusedDii(ident, m.transactionId)) return false;
    if (!this.#admit(m, ident, old)) return true; // the group it replaced is gone: its modules' blocks are kept again
    const tier = m.modules.find((e) => e.info.kind === 'fec')?.info.tier ?? m.modules[0]?.info.tier ?? 'boot';
    const kept: string[] = [];
    const restarted: string[] = [];
    const fresh: ModState[] = [];
    const modules = m.modules.map((e) => {
      const sha = toHex(e.info.sha256);
      const prev = this.#modules.get(e.id);
      const same = prev !== undefined && prev.version === e.version && prev.size === e.size && prev.sha256 === sha && prev.name === e.info.name;
      if (prev !== undefined && same && prev.blockSize === m.blockSize) {
        if (prev.wanted && prev.kind !== 'fec') kept.push(prev.name);
        return prev;
      }
      const wanted = this.tiers.includes(e.info.tier);
      if (prev !== undefined && prev.wanted && prev.kind !== 'fec') restarted.push(prev.name);
      const st: ModState = {
        id: e.id, version: e.version, size: e.size, blockSize: m.blockSize, name: e.info.name, kind: e.info.kind, tier: e.info.tier, sha256: sha, wanted,
        blocks: new Array<Uint8Array | undefined>(blockCount(e.size, m.blockSize)), have: 0, done: undefined, repaired: false, cached: false,
      };
      fresh.push(st);
      return st;
    });
    if (old !== undefined) {
      const now = new Set(modules);
      for (const mod of old.modules) {
        if (now.has(mod)) continue;
        if (this.#modules.get(mod.id) === mod) this.#modules.delete(mod.id);
        this.#held.release(mod);
        if (mod.wanted && mod.kind !== 'fec' && !restarted.includes(mod.name)) restarted.push(mod.name);
      }
    }
    for (const st of modules) this.#modules.set(st.id, st);
    for (const st of fresh) if (st.wanted) this.#held.reserve(st);
    const repair = modules.find((s) => s.kind === 'fec');
    const layout = m.modules.find((e) => e.info.kind === 'fec')?.info.fec;
    const g: GroupState = { ident, transactionId: m.transactionId, tier, blockSize: m.blockSize, modules, fec: undefined };
    g.fec = fecState(modules, repair, layout, m.blockSize);
    this.#groups.set(ident, g);
    if (old !== undefined) this.#emit({ kind: 'version', transactionId: m.transactionId, previous: old.transactionId, restarted, kept });
    for (const st of modules) {
      if (fresh.includes(st) && st.wanted) this.#adopt(g, st);
      else this.#takePending(st.id); // old versions, or blocks this box does not want
    }
    for (let i = 0; i < (g.fec?.code.length ?? 0); i++) this.#repaired(g, i);
    for (const st of modules) this.#maybeComplete(st);
    this.#progress(tier, true);
    this.#checkTiers();
    return true;
  }

  // A new module state: blocks from the cache or from the pre-DII buffer.
  #adopt(g: GroupState, st: ModState): void {
    const hit = st.kind === 'fec' ? undefined : this.#cached?.(st.sha256);
    if (hit !== undefined && hit.length === st.size && sha256Hex(hit) === st.sha256) {
      for (let b = 0; b < st.blocks.length; b++) st.blocks[b] = hit.subarray(b * g.blockSize, Math.min((b + 1) * g.blockSize, st.size));
      st.have = st.blocks.length;
      st.cached = true;
    }
    for (const [n, data] of this.#takePending(st.id, st.version) ?? []) this.#store(g, st, n, data);
  }

  // Drop the buffered blocks of a module id, every version; return those of `version`.
  #takePending(id: number, version = -1): Map<number, Uint8Array> | undefined {
    let out;
    for (const [key, blocks] of this.#pending) {
      if (key >> 8 !== id) continue;
      this.#pending.delete(key);
      for (const b of blocks.values()) this.#pendingBytes -= b.length;
      if ((key & 255) === version) out = blocks;
    }
    return out;
  }

  // [issue 12] Bound what a DII can make the box hold: the modules it adds (wanted ones, all of
  // their bytes, whether or not blocks ever come) must fit beside what is held, or the whole
  // DII is refused now, before one of its blocks is kept. A refusal also drops the group it
  // replaces (the carousel moved past it) and the early blocks of its modules.
  #admit(m: DiiMessage, ident: number, old: GroupState | undefined): boolean {
    const need = this.#held.need(m, this.tiers, this.#modules, old?.modules ?? []);
    const quota = this.#held.quota;
    if (need.held + need.bytes <= quota) return true;
    if (old !== undefined) this.#dropGroup(old);
    for (const e of m.modules) this.#takePending(e.id);
    this.#held.refuse(ident, m);
    this.#stats.quotaRefused++;
    this.#stats.lastError = new CarouselError('module', `DII ${m.transactionId} needs ${need.bytes} bytes beside ${need.held} held, over the ${quota}-byte quota`).message;
    this.#emit({ kind: 'over-quota', transactionId: m.transactionId, modules: need.modules, bytes: need.bytes, heldBytes: need.held, quotaBytes: quota });
    return false;
  }

  #dropGroup(g: GroupState): void {
    if (this.#groups.get(g.ident) === g) this.#groups.delete(g.ident);
    for (const mod of g.modules) {
      if (this.#modules.get(mod.id) === mod) this.#modules.delete(mod.id);
      this.#held.release(mod);
    }
  }

  #onDdb(m: DdbMessage): void {
    if (this.#downloadId !== undefined && m.downloadId !== this.#downloadId) return;
    this.#stats.blocks++;
    const st = this.#modules.get(m.moduleId);
    if (st === undefined || st.version !== m.version) {
      this.#buffer(m);
      return;
    }
    if (!st.wanted || st.done !== undefined) {
      this.#stats.duplicateBlocks++;
      return;
    }
    const g = this.#groupOf(st);
    if (g === undefined) return;
    if (this.#shared !== undefined) this.#maybeComplete(st); // verified meanwhile by another box
    if (st.done === undefined) this.#store(g, st, m.block, m.data);
    this.#progress(st.tier, false);
  }

  #buffer(m: DdbMessage): void {
    const key = (m.moduleId << 8) | m.version;
    if (this.#held.refusedBlock(key)) {
      this.#stats.refusedBlocks++;
      return;
    }
    if (this.#pendingBytes + m.data.length > Math.min(this.#maxBuffer, this.#held.quota - this.#held.reserved)) return;
    let blocks = this.#pending.get(key);
    if (blocks === undefined) this.#pending.set(key, (blocks = new Map()));
    if (blocks.has(m.block)) return;
    blocks.set(m.block, m.data);
    this.#pendingBytes += m.data.length;
    this.#stats.buffered++;
  }

  #store(g: GroupState, st: ModState, n: number, data: Uint8Array): void {
    const expect = Math.min(g.blockSize, st.size - n * g.blockSize);
    if (n >= st.blocks.length || data.length !== expect) {
      this.#stats.badBlocks++;
      return;
    }
    if (st.blocks[n] !== undefined || st.done !== undefined) {
      this.#stats.duplicateBlocks++;
      return;
    }
    st.blocks[n] = data;
    st.have++;
    const cb = codeBlockOf(g, st, n);
    if (cb >= 0) this.#repaired(g, cb);
    this.#maybeComplete(st);
  }

  #repaired(g: GroupState, index: number): void {
    let fixed: ModState[];
    try {
      fixed = tryRepair(g, index);
    } catch (e) {
      this.#note(e);
      return;
    }
    for (const m of fixed) {
      this.#stats.repairedBlocks++;
      this.#maybeComplete(m);
    }
  }

  #maybeComplete(st: ModState): void {
    if (!st.wanted || st.done !== undefined || st.kind === 'fec') return;
    // Another receiver of this process verified these very bytes: share them, hash nothing.
    const shared = this.#shared?.get(st.sha256);
    if (shared === undefined && st.have < st.blocks.length) return;
    const bytes = shared ?? assemble(st);
    if (shared === undefined && sha256Hex(bytes) !== st.sha256) {
      // CRCs passed, yet the module is not what the DII promised: start it over.
      st.blocks.fill(undefined);
      st.have = 0;
      this.#stats.corrupt++;
      this.#emit({ kind: 'corrupt', name: st.name, error: new CarouselError('module', `SHA-256 mismatch in ${JSON.stringify(st.name)}`) });
      return;
    }
    st.done = bytes;
    if (shared === undefined) this.#shared?.put(st.sha256, bytes);
    this.#emit({ kind: 'module', module: publicModule(st), repaired: st.repaired, cached: st.cached });
    this.#progress(st.tier, true);
    this.#checkTiers();
  }

  #groupOf(st: ModState): GroupState | undefined {
    for (const g of this.#groups.values()) if (g.modules.includes(st)) return g;
    return undefined;
  }

  #progress(tier: Tier, force: boolean): void {
    if (!this.tiers.includes(tier)) return;
    const p = tierProgress(this.#groups.values(), tier);
    if (!force && p.fraction - (this.#lastFraction.get(tier) ?? -1) < 0.01) return;
    this.#lastFraction.set(tier, p.fraction);
    this.#emit({ kind: 'progress', tier, ...p });
  }

  #checkTiers(): void {
    const dsi = this.#dsi;
    if (dsi === undefined) return;
    for (const tier of this.tiers) {
      if (this.#tierDone.get(tier) === dsi.transactionId) continue;
      const groups = dsi.groups.filter((g) => g.tier === tier);
      const states = groups.map((d) => this.#groups.get((d.groupId >>> 1) & 0x7fff));
      const ready = states.every((s, i) => s !== undefined && s.transactionId === groups[i]?.groupId && s.modules.every((m) => m.kind === 'fec' || m.done !== undefined));
      if (!ready) continue;
      this.#tierDone.set(tier, dsi.transactionId);
      const mods = states.flatMap((s) => (s as GroupState).modules.filter((m) => m.kind !== 'fec').map(publicModule));
      this.#emit({ kind: 'tier', tier, modules: mods });
    }
  }
}

function publicModule(m: ModState): CarouselModule {
  return { name: m.name, kind: m.kind as ModuleKind, tier: m.tier, bytes: m.done as Uint8Array, sha256: m.sha256 };
}
