// Measures this node process for its NodeStats report [c16, c38]: CPU (process.cpuUsage), memory,
// event-loop delay (node:perf_hooks monitorEventLoopDelay) plus what the node tells it about its
// workers and the work it hosts, whose demand is the policy's one definition of load (nodeLoad).
// Reads the process only (or injected readings, in tests); it sends nothing and keeps no timers.

import { availableParallelism, totalmem } from 'node:os';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { ArgumentError, ChannelClosedError, type Clock, positiveInt, rejectUnknown, systemClock, type UdpAddress } from '../../runtime/index.ts';
import { nodeLoad, type HostedWork } from '../../policy/index.ts';
import type { NodeStats, PortionStats } from './statistics.ts';

/** What the node knows that the process cannot measure. Omitted fields get the defaults noted. */
export interface NodeLoad {
  workers: number;
  /** What the node hosts: its load, per-app load and sessions are nodeLoad(work) [D16]. */
  work: HostedWork[];
  portions: PortionStats[];
  /** Work units the node can carry. Default: max(1, workers). */
  capacity?: number;
  /** Requests in the node. Default: the portions' queues summed. */
  queue?: number;
  /** Busy fraction of the workers. Default: the process CPU utilisation. */
  util?: number;
  /** The node's critical-section wait. Default: the worst portion's EWMA. */
  waitMs?: number;
}

export interface NodeSamplerOptions {
  node: string;
  clock?: Clock;
  /** When this process started (ms). Default: clock.now() at construction. */
  incarnation?: number;
  /** The report interval the node uses, written into each report. Default 1000. */
  intervalMs?: number;
  /** Memory the node must stay under, bytes. Default: the cgroup limit if any, else total RAM. */
  memLimit?: number;
  udp?: UdpAddress;
  /** Called at each sample. Default: an idle node (no workers, sessions or portions). */
  load?: () => NodeLoad;
  /** monitorEventLoopDelay resolution, ms. Default 10. */
  loopResolutionMs?: number;
  /** The process readings (CPU, loop delay, memory) since the last call. Default: this process. Tests inject them. */
  readings?: () => ProcessReadings;
}

/** What the sampler reads of the process at each sample, over the interval since the last one. */
export interface ProcessReadings {
  /** Busy fraction of all cores, 0..1. */
  util: number;
  loop: { p50Ms: number; p99Ms: number; maxMs: number };
  rss: number;
  heapUsed: number;
}

const OPTIONS = ['node', 'clock', 'incarnation', 'intervalMs', 'memLimit', 'udp', 'load', 'loopResolutionMs', 'readings'];
const IDLE: NodeLoad = { workers: 0, work: [], portions: [] };

export class NodeSampler {
  readonly node: string;
  readonly incarnation: number;
  #clock: Clock;
  #intervalMs: number;
  #memLimit: number;
  #udp: UdpAddress | undefined;
  #load: () => NodeLoad;
  #cores = availableParallelism();
  #loop: IntervalHistogram | undefined;
  #readings: () => ProcessReadings;
  #seq = 0;
  #cpu = process.cpuUsage();
  #wall = process.hrtime.bigint();
  #closed = false;

  constructor(options: NodeSamplerOptions) {
    rejectUnknown('NodeSampler', options, OPTIONS);
    if (typeof options.node !== 'string' || !/^[A-Za-z0-9_.:-]{1,128}$/.test(options.node)) throw new ArgumentError('NodeSampler: node must be an id', 'node');
    this.node = options.node;
    this.#clock = options.clock ?? systemClock;
    this.incarnation = options.incarnation ?? this.#clock.now();
    this.#intervalMs = positiveInt('NodeSampler', 'intervalMs', options.intervalMs ?? 1000);
    this.#memLimit = options.memLimit ?? defaultMemLimit();
    if (!(this.#memLimit > 0)) throw new ArgumentError('NodeSampler: memLimit must be > 0', 'memLimit');
    this.#udp = options.udp;
    this.#load = options.load ?? (() => IDLE);
    const resolution = positiveInt('NodeSampler', 'loopResolutionMs', options.loopResolutionMs ?? 10);
    if (options.readings !== undefined && typeof options.readings !== 'function') throw new ArgumentError('NodeSampler: readings must be a function', 'readings');
    if (options.readings === undefined) {
      this.#loop = monitorEventLoopDelay({ resolution });
      this.#loop.enable();
    }
    this.#readings = options.readings ?? (() => this.#readProcess());
  }

  /** One report: deltas since the previous sample (CPU, loop delay), levels now (memory, load). */
  sample(): NodeStats {
    if (this.#closed) throw new ChannelClosedError('NodeSampler closed');
    const r = this.#readings();
    const l = this.#load();
    const { load, apps, sessions } = nodeLoad(l.work);
    let queue = 0;
    let worst = 0;
    for (const p of l.portions) {
      queue += p.queue;
      if (p.waitEwmaMs > worst) worst = p.waitEwmaMs;
    }
    const out: NodeStats = {
      node: this.node,
      incarnation: this.incarnation,
      seq: ++this.#seq,
      at: this.#clock.now(),
      intervalMs: this.#intervalMs,
      cpu: { cores: this.#cores, util: clamp01(r.util) },
      memory: { rss: r.rss, heapUsed: r.heapUsed, limit: this.#memLimit },
      loop: { ...r.loop },
      workers: l.workers,
      capacity: l.capacity ?? Math.max(1, l.workers),
      load,
      apps,
      sessions,
      queue: l.queue ?? queue,
      util: clamp01(l.util ?? r.util),
      waitMs: l.waitMs ?? worst,
      portions: l.portions.map((p) => ({ ...p })),
    };
    if (this.#udp !== undefined) out.udp = { ...this.#udp };
    return out;
  }

  #readProcess(): ProcessReadings {
    const wall = process.hrtime.bigint();
    const cpu = process.cpuUsage(this.#cpu);
    const elapsedUs = Number(wall - this.#wall) / 1000;
    this.#cpu = process.cpuUsage();
    this.#wall = wall;
    const util = elapsedUs > 0 ? clamp01((cpu.user + cpu.system) / elapsedUs / this.#cores) : 0;
    const mem = process.memoryUsage();
    const h = this.#loop as IntervalHistogram;
    // A histogram with no samples yet reports huge percentiles; report zeros instead.
    const loop = h.count === 0 ? { p50Ms: 0, p99Ms: 0, maxMs: 0 } : { p50Ms: h.percentile(50) / 1e6, p99Ms: h.percentile(99) / 1e6, maxMs: h.max / 1e6 };
    h.reset(); // note: the first delay after a reset is not counted (docs/REGISTRY.md, statistics)
    return { util, loop, rss: mem.rss, heapUsed: mem.heapUsed };
  }

  /** Stop the event-loop monitor. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#loop?.disable();
  }
}

function clamp01(x: number): number {
  return x < 0 || !Number.isFinite(x) ? 0 : x > 1 ? 1 : x;
}

function defaultMemLimit(): number {
  const total = totalmem();
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  // Without a cgroup limit Node reports a huge number (2^64); take whichever is smaller.
  return constrained !== undefined && constrained > 0 && constrained < total ? constrained : total;
}
