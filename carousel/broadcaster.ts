// The broadcaster: a cyclic scheduler that turns a plan into a paced stream of TS packets [c1].
// Per-tier repetition by stride scheduling, PAT/PMT/DSI/DII every diiIntervalMs of stream time,
// clean version switches. Sans-IO: it owns no socket and no timer; stream time is packet count.

import { ArgumentError } from '../runtime/index.ts';
import { type ModuleSet, type Tier, checkModuleSet } from './module-set.ts';
import { type CarouselOptions, type ResolvedOptions, resolveOptions } from './options.ts';
import { type Plan, type PlanGroup, type PlanMemory, type PlanModule, buildPlan, newMemory } from './plan.ts';
import { PID_PAT } from './psi.ts';
import { SectionPacketizer, TS_PACKET, nullPacket } from './ts.ts';

interface Ring {
  tier: Tier | 'all';
  sections: Uint8Array[];
  pos: number;
  /** Stride scheduling: bytes sent divided by weight; the lowest pass goes next. */
  pass: number;
  weight: number;
  laps: number;
}

export interface BroadcasterStats {
  packets: number;
  sections: number;
  controlSections: number;
  nullPackets: number;
  /** Data bytes of sections sent per tier since start. */
  tierBytes: Record<string, number>;
  versions: number;
  /** Datagrams the adapter could not send (udp-io.ts reports them), and the last reason. */
  sendErrors: number;
  lastSendError: string | undefined;
}

export interface CarouselDescription {
  downloadId: number;
  dsiTransactionId: number;
  groups: { tier: Tier; transactionId: number; modules: { id: number; name: string; version: number; size: number; fec: boolean }[] }[];
}

export class Broadcaster {
  readonly options: ResolvedOptions;
  #mem: PlanMemory = newMemory();
  #plan: Plan;
  #pending: Plan | undefined;
  #rings: Ring[] = [];
  #control: Uint8Array[] = [];
  #psi: [SectionPacketizer, Uint8Array][] = [];
  #pat: SectionPacketizer;
  #pmt: SectionPacketizer;
  #data: SectionPacketizer;
  #packet = 0;
  #nextControl = 0;
  #controlEvery: number;
  #fallbackEvery: number;
  #rounds = 0;
  #draining = false;
  #stats: BroadcasterStats = { packets: 0, sections: 0, controlSections: 0, nullPackets: 0, tierBytes: {}, versions: 1, sendErrors: 0, lastSendError: undefined };

  constructor(set: ModuleSet, options: CarouselOptions = {}) {
    this.options = resolveOptions(options);
    this.#plan = buildPlan(checkModuleSet(set), this.options, this.#mem);
    this.#pat = new SectionPacketizer(PID_PAT);
    this.#pmt = new SectionPacketizer(this.options.pmtPid);
    this.#data = new SectionPacketizer(this.options.pid);
    this.#controlEvery = Math.max(1, Math.round((this.options.diiIntervalMs / 1000) * (this.options.bitrate / (TS_PACKET * 8))));
    this.#fallbackEvery = Math.max(1, Math.round(this.options.fallbackDiiIntervalMs / this.options.diiIntervalMs));
    this.#rings = this.#makeRings(this.#plan);
  }

  /** Stream time of one datagram, ms. */
  get datagramMs(): number {
    return (this.options.packetsPerDatagram * TS_PACKET * 8 * 1000) / this.options.bitrate;
  }

  /** Packets emitted so far; stream time is packetIndex * 188 * 8 / bitrate. */
  get packetIndex(): number {
    return this.#packet;
  }

  /** Stream time of the next packet, ms since the first. */
  get timeMs(): number {
    return (this.#packet * TS_PACKET * 8 * 1000) / this.options.bitrate;
  }

  /** True once every section of the current version has been sent at least once. */
  get cycleComplete(): boolean {
    return this.#pending === undefined && this.#rings.every((r) => r.laps > 0);
  }

  describe(): CarouselDescription {
    const p = this.#pending ?? this.#plan;
    return {
      downloadId: p.downloadId,
      dsiTransactionId: p.dsiTransactionId,
      groups: p.groups.map((g) => ({
        tier: g.tier,
        transactionId: g.transactionId,
        modules: g.modules.map((m) => ({ id: m.id, name: m.name, version: m.version, size: m.size, fec: m.fec })),
      })),
    };
  }

  /** The adapter could not send a datagram: counted here so whoever reads stats sees it. */
  noteSendError(reason: string): void {
    this.#stats.sendErrors++;
    this.#stats.lastSendError = reason;
  }

  stats(): BroadcasterStats {
    return { ...this.#stats, tierBytes: { ...this.#stats.tierBytes } };
  }

  /**
   * Republish: transactionIds and the versions of changed modules are bumped; unchanged modules
   * keep id and version. The section on air finishes, then the new DSI/DIIs go first and no
   * section of the old version follows.
   */
  update(set: ModuleSet): void {
    this.#pending = buildPlan(checkModuleSet(set), this.options, this.#mem);
  }

  /** Stop after the current cycle: nextPacket() returns undefined once it is complete. */
  drain(): void {
    this.#draining = true;
  }

  /** The next 188-byte packet (undefined only after drain() and a complete cycle). */
  nextPacket(): Uint8Array | undefined {
    if (this.#packet >= this.#nextControl) this.#queueControl();
    let p: Uint8Array | undefined;
    const psi = this.#psi.shift();
    if (psi !== undefined) {
      let given = false;
      p = psi[0].packet(() => (given ? undefined : ((given = true), psi[1])));
    } else {
      p = this.#data.packet(() => this.#nextSection());
      if (p === undefined) {
        if (this.#draining) return undefined;
        p = nullPacket();
        this.#stats.nullPackets++;
      }
    }
    this.#packet++;
    this.#stats.packets++;
    return p;
  }

  /** packetsPerDatagram packets in one buffer (shorter only at the end of a drained cycle). */
  nextDatagram(): Uint8Array | undefined {
    const n = this.options.packetsPerDatagram;
    const out = new Uint8Array(n * TS_PACKET);
    let i = 0;
    for (; i < n; i++) {
      const p = this.nextPacket();
      if (p === undefined) break;
      out.set(p, i * TS_PACKET);
    }
    return i === 0 ? undefined : i === n ? out : out.slice(0, i * TS_PACKET);
  }

  // PAT, PMT, DSI and the boot DIIs every round; fallback DIIs every #fallbackEvery rounds.
  #queueControl(all = false): void {
    const full = all || this.#rounds % this.#fallbackEvery === 0;
    this.#rounds++;
    this.#psi = [
      [this.#pat, this.#plan.pat],
      [this.#pmt, this.#plan.pmt],
    ];
    this.#control = [this.#plan.dsi, ...this.#plan.groups.filter((g) => full || g.tier === 'boot').map((g) => g.dii)];
    this.#nextControl = this.#packet + this.#controlEvery;
  }

  #nextSection(): Uint8Array | undefined {
    if (this.#pending !== undefined) {
      // Clean switch: nothing of the old version after this point [c1].
      const old = this.#plan;
      this.#plan = this.#pending;
      this.#pending = undefined;
      this.#rings = this.#makeRings(this.#plan, old);
      this.#stats.versions++;
      this.#queueControl(true);
    }
    const c = this.#control.shift();
    if (c !== undefined) {
      this.#stats.sections++;
      this.#stats.controlSections++;
      return c;
    }
    if (this.#draining && this.cycleComplete) return undefined;
    let best: Ring | undefined;
    for (const r of this.#rings) if (best === undefined || r.pass < best.pass) best = r;
    if (best === undefined) return undefined;
    const s = best.sections[best.pos] as Uint8Array;
    best.pos++;
    if (best.pos === best.sections.length) {
      best.pos = 0;
      best.laps++;
    }
    best.pass += s.length / best.weight;
    this.#stats.sections++;
    this.#stats.tierBytes[best.tier] = (this.#stats.tierBytes[best.tier] ?? 0) + s.length;
    return s;
  }

  // [issue 15] After a switch from `old`, each ring sends the blocks of the modules that changed
  // first, then the rest in their order: a receiver holding the old version needs only those, and
  // a rollout's changes (its directive, next/ manifest) sat at the end of the boot ring, so a box
  // waited for every unchanged block ahead of them (~1.5 cycles) before it could take the version.
  #makeRings(plan: Plan, old?: Plan): Ring[] {
    const had = new Set(old?.groups.flatMap((g) => g.modules.map((m) => `${m.id}.${m.version}`)));
    const fresh = (m: PlanModule): boolean => old !== undefined && !m.fec && !had.has(`${m.id}.${m.version}`);
    const ring = (groups: PlanGroup[]): Uint8Array[] => {
      const mods = groups.flatMap((g) => g.modules);
      return [...mods.filter(fresh), ...mods.filter((m) => !fresh(m))].flatMap((m) => m.ddb);
    };
    if (this.options.schedule === 'plain') {
      const sections = ring(plan.groups);
      return sections.length === 0 ? [] : [{ tier: 'all', sections, pos: 0, pass: 0, weight: 1, laps: 0 }];
    }
    const rings: Ring[] = [];
    const tiers = [...new Set(plan.groups.map((g) => g.tier))];
    for (const tier of tiers) {
      const groups = plan.groups.filter((g) => g.tier === tier);
      const sections = ring(groups);
      const bytes = groups.reduce((n, g) => n + g.sourceAirtime, 0);
      if (sections.length === 0) continue;
      rings.push({ tier, sections, pos: 0, pass: 0, weight: this.options.repeat[tier] * Math.max(bytes, 1), laps: 0 });
    }
    return rings;
  }
}

/** One full cycle of a module set as a plain MPEG-TS byte string (what `weft carousel dump` writes). */
export function dumpCycle(set: ModuleSet, options: CarouselOptions = {}): Uint8Array {
  const b = new Broadcaster(set, options);
  b.drain(); // control first, then data until every section went out once
  const packets: Uint8Array[] = [];
  for (;;) {
    const p = b.nextPacket();
    if (p === undefined) break;
    packets.push(p);
    if (packets.length > 50_000_000 / TS_PACKET) throw new ArgumentError('dumpCycle: cycle longer than 50 MB');
  }
  return concat(packets);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
