// The cable-plant simulator's state for one run: typed arrays per node, the session table, the
// event heap and the running statistics, with what is measured of them (busy-worker areas, the
// nodes' reports, the time series, the result). The events that change it are in plant-run.ts.

import { SeededRandom, nodeLoad, scaleConfig } from '../policy/index.ts';
import type { HostedWork, NodeReport, PlacementPolicy } from '../policy/index.ts';
import { EventHeap } from './heap.ts';
import { LogHistogram } from './histogram.ts';
import { ReplicaSet } from './plant-replicas.ts';
import { NodeQueues, SessionTable } from './plant-sessions.ts';
import type { NodeSummary, RunResult, SeriesPoint } from './plant-types.ts';
import { Arrivals } from './plant-arrivals.ts';
import type { Scenario } from './scenario.ts';

export class PlantState {
  readonly sc: Scenario;
  readonly policies: readonly PlacementPolicy[];
  readonly nN: number;
  readonly nA: number;
  readonly rng: SeededRandom;
  readonly heap = new EventHeap(1 << 16);
  readonly appNames: readonly string[];
  readonly arrivals: Arrivals;
  readonly memOf: readonly number[];
  readonly mean: readonly number[];

  // Nodes.
  readonly workers: Int32Array;
  readonly busy: Int32Array;
  readonly queues: NodeQueues;
  readonly alive: Uint8Array;
  readonly homeN: Int32Array;
  readonly homeApp: Int32Array;
  readonly mem: Float64Array;
  readonly memLimit: Float64Array;
  readonly area: Float64Array;
  readonly areaT: Float64Array;
  readonly snapArea: Float64Array;
  readonly snapT: Float64Array;
  readonly seriesArea: Float64Array;
  readonly waitEwma: Float64Array;
  readonly slow: Float64Array;
  readonly ids: readonly string[];
  readonly view: { now: number; nodes: NodeReport[] } = { now: 0, nodes: [] };
  readonly replicas: ReplicaSet | undefined;
  readonly inflight: NodeReport[] = [];
  readonly freeInflight: number[] = [];

  readonly S = new SessionTable();
  readonly boxes: Uint8Array;

  // Results.
  readonly total = new LogHistogram();
  readonly perNode: readonly LogHistogram[];
  readonly warmArea: Float64Array;
  readonly demandSum: Float64Array;
  demandSamples = 0;
  warmSeen = false;
  seriesHist = new LogHistogram();
  readonly series: SeriesPoint[] = [];
  sessionsStarted = 0;
  live = 0;
  rejected = 0;
  timeouts = 0;
  replaced = 0;
  events = 0;
  now = 0;

  /** Demand of the portion of app `a` homed on `home`; one function, handed to the replica set. */
  readonly portionDemand = (home: number, a: number): number => (this.homeApp[home * this.nA + a] as number) * this.costNow(a, this.now);

  constructor(sc: Scenario, policies: readonly PlacementPolicy[], useReplicas: boolean, maxReportAgeMs: number) {
    this.sc = sc;
    this.policies = policies;
    const nN = sc.servers.length;
    this.nN = nN;
    this.nA = sc.apps.length;
    this.rng = new SeededRandom(sc.seed);
    this.appNames = sc.apps.map((a) => a.name);
    this.arrivals = new Arrivals(sc, this.rng);
    this.memOf = sc.apps.map((a) => a.memMB);
    this.mean = sc.apps.map((a) => a.requests);

    this.workers = Int32Array.from(sc.servers, (s) => s.workers);
    this.busy = new Int32Array(nN);
    this.queues = new NodeQueues(nN);
    this.alive = new Uint8Array(nN).fill(1);
    this.homeN = new Int32Array(nN);
    this.homeApp = new Int32Array(nN * this.nA);
    this.mem = new Float64Array(nN);
    this.memLimit = Float64Array.from(sc.servers, (s) => s.memMB);
    this.area = new Float64Array(nN);
    this.areaT = new Float64Array(nN);
    this.snapArea = new Float64Array(nN);
    this.snapT = new Float64Array(nN);
    this.seriesArea = new Float64Array(nN);
    this.waitEwma = new Float64Array(nN);
    this.slow = new Float64Array(nN).fill(1);
    this.ids = sc.servers.map((_s, i) => `s${String(i).padStart(2, '0')}`);
    for (let i = 0; i < nN; i++) {
      this.view.nodes.push({ node: this.ids[i] as string, at: 0, capacity: this.workers[i] as number, load: 0, sessions: 0, queue: 0, util: 0, waitMs: 0, memUsed: 0, memLimit: this.memLimit[i] as number, alive: true });
    }
    this.replicas = useReplicas
      ? new ReplicaSet(this.appNames, this.ids, scaleConfig({ ...(sc.replicas ?? {}), select: { maxReportAgeMs, ...sc.replicas?.select } }), new SeededRandom(sc.seed ^ 0x5ca1e).uniform(), maxReportAgeMs)
      : undefined;
    this.boxes = new Uint8Array(sc.boxes);

    this.perNode = sc.servers.map(() => new LogHistogram());
    this.warmArea = new Float64Array(nN);
    this.demandSum = new Float64Array(nN);
  }

  costNow(a: number, t: number): number {
    return this.arrivals.cost(a, t);
  }

  touch(i: number): void {
    this.area[i] = (this.area[i] as number) + (this.busy[i] as number) * (this.now - (this.areaT[i] as number));
    this.areaT[i] = this.now;
  }

  snapshot(i: number): NodeReport {
    const now = this.now;
    const nA = this.nA;
    const replicas = this.replicas;
    this.touch(i);
    const span = now - (this.snapT[i] as number);
    const util = span > 0 ? ((this.area[i] as number) - (this.snapArea[i] as number)) / ((this.workers[i] as number) * span) : 0;
    this.snapArea[i] = this.area[i] as number;
    this.snapT[i] = now;
    // [D16] the same definition of load as the live sampler: the demand of the hosted portions.
    const work: HostedWork[] = [];
    for (let a = 0; a < nA; a++) {
      work.push({ app: this.appNames[a] as string, kind: 'session', count: this.homeApp[i * nA + a] as number, cost: this.costNow(a, now), share: replicas === undefined ? 1 : replicas.ownShare(i, a) });
    }
    replicas?.hostedWork(i, this.portionDemand, work);
    const { load, apps, sessions } = nodeLoad(work);
    return {
      node: this.ids[i] as string, at: now, capacity: this.workers[i] as number, load, apps, sessions,
      queue: (this.busy[i] as number) + this.queues.length(i), util, waitMs: this.waitEwma[i] as number,
      memUsed: this.mem[i] as number, memLimit: this.memLimit[i] as number, alive: true,
    };
  }

  seriesPoint(): void {
    const now = this.now;
    const sc = this.sc;
    let sumU = 0;
    let maxU = 0;
    let liveCap = 0;
    let demand = 0;
    let nodesUp = 0;
    for (let i = 0; i < this.nN; i++) {
      this.touch(i);
      const u = ((this.area[i] as number) - (this.seriesArea[i] as number)) / ((this.workers[i] as number) * sc.seriesMs);
      this.seriesArea[i] = this.area[i] as number;
      if (this.alive[i] === 0) continue;
      nodesUp++;
      sumU += u;
      if (u > maxU) maxU = u;
      liveCap += this.workers[i] as number;
      let d = 0;
      for (let a = 0; a < this.nA; a++) d += this.portionDemand(i, a);
      demand += d;
      if (now > sc.warmupMs) this.demandSum[i] = (this.demandSum[i] as number) + d / (this.workers[i] as number);
    }
    if (now > sc.warmupMs) this.demandSamples++;
    const seriesHist = this.seriesHist;
    this.series.push({
      t: now, sessions: this.live, offered: liveCap > 0 ? demand / liveCap : 0, requests: seriesHist.count,
      meanMs: seriesHist.mean, p99Ms: seriesHist.percentile(99), meanUtil: nodesUp > 0 ? sumU / nodesUp : 0, maxUtil: maxU,
      replicas: this.replicas?.count ?? 0,
    });
    this.seriesHist = new LogHistogram();
  }

  /** The warm-up is over: utilisation is measured from here. */
  warm(): void {
    this.warmSeen = true;
    for (let i = 0; i < this.nN; i++) {
      this.touch(i);
      this.warmArea[i] = this.area[i] as number;
    }
  }

  /** The run's figures (call after run()); wall0 is performance.now() when the caller began. */
  result(policyName: string, wall0: number): RunResult {
    const sc = this.sc;
    const end = sc.durationMs;
    const total = this.total;
    for (let i = 0; i < this.nN; i++) this.touch(i);
    const nodes: NodeSummary[] = sc.servers.map((sv, i) => ({
      workers: sv.workers, util: ((this.area[i] as number) - (this.warmArea[i] as number)) / (sv.workers * (end - sc.warmupMs)),
      demand: this.demandSamples > 0 ? (this.demandSum[i] as number) / this.demandSamples : 0,
      p99Ms: (this.perNode[i] as LogHistogram).percentile(99), meanMs: (this.perNode[i] as LogHistogram).mean,
    }));
    let seen = 0;
    for (let b = 0; b < this.boxes.length; b++) seen += this.boxes[b] as number;
    const replicas = this.replicas;
    return {
      policy: policyName, requests: total.count, meanMs: total.mean, p50Ms: total.percentile(50), p99Ms: total.percentile(99),
      p999Ms: total.percentile(99.9), maxMs: total.max, sessions: this.sessionsStarted, rejected: this.rejected, timeouts: this.timeouts, replaced: this.replaced,
      spawns: replicas?.spawns ?? 0, retires: replicas?.retires ?? 0, boxesSeen: seen, events: this.events, wallMs: performance.now() - wall0, series: this.series, nodes,
    };
  }
}
