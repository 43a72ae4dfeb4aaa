// A fleet of emulated boxes in one process: one QuickJS engine and one carousel listener shared
// by all, a mix of device profiles, some with the return channel cut, started staggered.

import { ArgumentError, positiveInt } from '../runtime/index.ts';
import type { TrustedKey } from '../runtime/app/index.ts';
import type { Engine } from '../sandbox/index.ts';
import { CarouselDemux, type DemuxOptions, type DemuxStats } from '../carousel/index.ts';
import type { BootState, BoxEvent, Tuned, Tuner, TunerStatus } from '../loader/index.ts';
import { type EmulatedBox, type EmulatedBoxOptions, startEmulatedBox } from './emulator.ts';
import { PROFILES } from './profiles.ts';
import { FleetWatch } from './fleet-watch.ts';
import { VerifyShare } from './verify-share.ts';
import { BootPacer, type PaceOptions } from './fleet-pace.ts';

/** `legacy-sd:2,hd-dvr:1` -> weights by profile id. Unknown profiles are refused by name. */
export function parseMix(spec: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of spec.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    const [id, w = '1'] = part.split(':');
    if (id === undefined || !PROFILES.some((p) => p.id === id)) throw new ArgumentError(`mix: unknown device profile "${id ?? ''}" (known: ${PROFILES.map((p) => p.id).join(', ')})`, 'mix');
    const n = Number(w);
    if (!(n > 0) || !Number.isFinite(n)) throw new ArgumentError(`mix: weight of ${id} must be a positive number`, 'mix');
    out[id] = (out[id] ?? 0) + n;
  }
  if (Object.keys(out).length === 0) throw new ArgumentError('mix: name at least one profile', 'mix');
  return out;
}

/** Profile ids for `count` boxes in the mix's proportions (largest remainder), interleaved. */
export function assignProfiles(count: number, mix: Record<string, number>): string[] {
  const total = Object.values(mix).reduce((a, b) => a + b, 0);
  const share = Object.entries(mix).map(([id, w]) => ({ id, exact: (count * w) / total }));
  const n = new Map(share.map((s) => [s.id, Math.floor(s.exact)]));
  let left = count - [...n.values()].reduce((a, b) => a + b, 0);
  for (const s of [...share].sort((a, b) => (b.exact % 1) - (a.exact % 1))) {
    if (left-- <= 0) break;
    n.set(s.id, (n.get(s.id) ?? 0) + 1);
  }
  const out: string[] = [];
  const used = new Map<string, number>();
  while (out.length < count) {
    for (const [id, k] of n) {
      const u = used.get(id) ?? 0;
      if (u < k) {
        out.push(id);
        used.set(id, u + 1);
      }
    }
  }
  return out;
}

/**
 * One tuner fanned out to many boxes: the first box to tune opens it, the last to leave closes it.
 * Boxes that subscribe (the loader's acquirer does) share one demux: each section is decoded once
 * per process, blocks reach only the boxes that want them, and a module one box verified is
 * shared with the others [issue 19]. Raw `tune` stays for tools that want datagrams.
 */
export class TunerFanout {
  #source: Tuner;
  #raw = new Set<(d: Uint8Array) => void>();
  #status = new Set<(s: TunerStatus) => void>();
  #demux: CarouselDemux;
  #open: Promise<Tuned> | undefined;
  #users = 0;

  constructor(source: Tuner, options: DemuxOptions = {}) {
    this.#source = source;
    this.#demux = new CarouselDemux(options);
  }

  /** The shared demux's counters (sections decoded once, blocks no box wanted, shared modules). */
  stats(): DemuxStats {
    return this.#demux.stats();
  }

  tuner(): Tuner {
    return {
      tune: (onData, onStatus) =>
        this.#join(
          () => this.#raw.add(onData),
          () => this.#raw.delete(onData),
          onStatus,
        ),
      subscribe: async (sink, onStatus) => {
        let off: (() => void) | undefined;
        const t = await this.#join(
          () => (off = this.#demux.subscribe(sink)),
          () => off?.(),
          onStatus,
        );
        return { close: () => t.close(), changed: () => this.#demux.changed() };
      },
      shared: this.#demux.shared,
    };
  }

  async #join(add: () => void, remove: () => void, onStatus: ((s: TunerStatus) => void) | undefined): Promise<Tuned> {
    add();
    if (onStatus !== undefined) this.#status.add(onStatus);
    this.#users++;
    const leave = (): void => {
      remove();
      if (onStatus !== undefined) this.#status.delete(onStatus);
      this.#users--;
    };
    this.#open ??= this.#source.tune(
      (d) => {
        for (const s of this.#raw) s(d);
        if (this.#demux.subscribers > 0) this.#demux.push(d);
      },
      (s) => {
        for (const f of this.#status) f(s);
      },
    );
    try {
      await this.#open;
    } catch (e) {
      leave();
      this.#open = undefined; // the next box tries again
      throw e;
    }
    let closed = false;
    return {
      close: async () => {
        if (closed) return;
        closed = true;
        leave();
        if (this.#users > 0 || this.#open === undefined) return;
        const t = await this.#open;
        this.#open = undefined;
        await t.close();
      },
    };
  }
}

export interface FleetOptions {
  count: number;
  mix: Record<string, number>;
  /** One engine for every box (less host memory, no per-box memory cap). Default: one per box. */
  engine?: Engine;
  /** The carousel, shared by every box. */
  tuner: Tuner;
  trusted: readonly TrustedKey[];
  /** Broker URL and each box's secret. */
  headend?: { url: string; password: (boxId: string) => string };
  /** Box ids are `<prefix>-<first + i>`. Defaults `box` and 1. */
  prefix?: string;
  first?: number;
  /** How many boxes (of those with a return channel) get it cut. Default 0. */
  cut?: number;
  /** Delay between box starts, ms, so the fleet does not hit the broker at once. Default 20. */
  staggerMs?: number;
  /** When box i starts, ms after the fleet's start (fleet-plan.ts `arrivals`); replaces `staggerMs`. */
  startAt?: (i: number) => number;
  /** Hold a box whose start has come while this process's loop is busy or too many boxes boot
   *  (fleet-pace.ts); its boot time counts from when it starts. Default: no gate. */
  pace?: PaceOptions;
  stateDir?: string;
  onEvent?: (boxId: string, e: BoxEvent) => void;
  /** Called at once with the fleet, whose boxes fill in as they start: its summary can run while
   *  the boxes arrive (a 5,000-box fleet takes minutes to start) [issue 19.5]. */
  onStart?: (fleet: Fleet) => void;
  /** Per-box options passed to the emulator as is. */
  box?: Pick<EmulatedBoxOptions, 'throttle' | 'backoff' | 'loader'>;
}

export interface Fleet {
  /** The boxes started so far (in the order they came up while starting; in arrival order once all have). */
  readonly boxes: readonly EmulatedBox[];
  /** How many boxes are in each state now (each box's state whose entry action has run). */
  states(): Partial<Record<BootState, number>>;
  /** Resolves once every box has run the entry it last announced (Box.settled), or after `ms`:
   *  `states()` then counts a box that announced `degraded` as degraded, not as where it was. */
  settled(ms: number): Promise<void>;
  /** The shared carousel demux: sections decoded once for the fleet, blocks no box wanted, shared modules. */
  carousel(): DemuxStats;
  /** Boot times and channel counters from the boxes' events. */
  readonly watch: FleetWatch;
  /** The arrival gate, when `pace` was given. */
  readonly pacer: BootPacer | undefined;
  stop(): Promise<void>;
}

export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const count = positiveInt('startFleet', 'count', o.count, 10_000);
  const ids = assignProfiles(count, o.mix);
  const fan = new TunerFanout(o.tuner);
  const verifyShare = new VerifyShare(); // one signature check per process, not per box [issue 15]
  const boxes: EmulatedBox[] = [];
  const starting: Promise<EmulatedBox>[] = [];
  const watch = new FleetWatch();
  const pacer = o.pace === undefined ? undefined : new BootPacer(watch, o.pace);
  const fleet: Fleet = {
    boxes,
    carousel: () => fan.stats(),
    watch,
    pacer,
    states: () => {
      const out: Partial<Record<BootState, number>> = {};
      for (const b of boxes) out[b.box.state] = (out[b.box.state] ?? 0) + 1;
      return out;
    },
    settled: async (ms) => {
      await Promise.all(boxes.map((b) => b.box.settled(ms).catch(() => undefined))); // a box still busy at `ms` is counted where it is
    },
    stop: async () => {
      await Promise.all(boxes.map((b) => b.stop()));
    },
  };
  o.onStart?.(fleet);
  let cut = o.cut ?? 0;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const boxId = `${o.prefix ?? 'box'}-${(o.first ?? 1) + i}`;
    const dueAt = o.startAt === undefined ? performance.now() : t0 + o.startAt(i);
    if (dueAt - performance.now() > 1) await new Promise((r) => setTimeout(r, dueAt - performance.now()));
    // How late the box starts after its arrival: the gate's hold and a host that got to it late.
    await pacer?.admit(dueAt);
    watch.starting(boxId);
    const profile = ids[i] as string;
    const twoWay = PROFILES.find((p) => p.id === profile)?.channels.twoWay === true;
    const cutThis = twoWay && cut > 0;
    if (cutThis) cut--;
    // Not awaited before the next arrival: a start takes a few turns of a busy loop (its relay's
    // listener, the tuner), and arrivals one after another's start were paced by that, not by
    // their schedule (300 boxes offered at 18/s started at 6/s at load ~25) [issue 19.5].
    const started = startEmulatedBox({
        profile,
        boxId,
        ...(o.engine === undefined ? {} : { engine: o.engine }),
        tuner: fan.tuner(),
        trusted: o.trusted,
        verifyShare,
        ...(o.headend === undefined ? {} : { headend: { url: o.headend.url, password: o.headend.password(boxId) } }),
        ...(o.stateDir === undefined ? {} : { stateDir: o.stateDir }),
        cutReturn: cutThis,
        onEvent: (e: BoxEvent) => {
          watch.event(boxId, e);
          o.onEvent?.(boxId, e);
        },
        ...o.box,
      });
    started.then((b) => boxes.push(b), () => undefined); // its error is Promise.all's below, not an unhandled rejection now
    starting.push(started);
    if (i + 1 < count && o.startAt === undefined) await new Promise((r) => setTimeout(r, o.staggerMs ?? 20));
  }
  const all = await Promise.all(starting);
  boxes.splice(0, boxes.length, ...all); // in the order they arrived
  return fleet;
}

