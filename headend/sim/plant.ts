// The cable-plant simulator [c13-c16, c25, c30]: boxes start sessions (a Poisson process following
// the diurnal curve), each session's server portion is placed by a balancer policy and then sends
// requests to it; servers are FIFO multi-worker queues. Runs the same policy code as the live head-end.
// Randomness of the trace is a hash of (session, request), so every policy sees the same trace.

import { SeededRandom, createPolicy, decideScale, hash01, pickShare, portionShares, scaleConfig } from '../policy/index.ts';
import type { ClusterView, NodeReport, PlacementPolicy, PolicyKind, PortionState, ScaleConfig, SelectOptions, Uniform } from '../policy/index.ts';
import { EventHeap } from './heap.ts';
import { LogHistogram } from './histogram.ts';
import { diurnalFactor, peakSessionRate, sessionCost, type Scenario } from './scenario.ts';

const EV_ARRIVAL = 0;
const EV_REQ = 1;
const EV_DONE = 2;
const EV_SNAP = 3;
const EV_DELIVER = 4;
const EV_FAIL = 5;
const EV_DETECT = 6;
const EV_TICK = 7;
const EV_SERIES = 8;
const EV_SLOW = 9;

const SALT_N = 11;
const SALT_THINK = 12;
const SALT_SVC = 13;
const SALT_ROUTE = 14;
const SALT_BOX = 15;

export interface SeriesPoint {
  readonly t: number;
  readonly sessions: number;
  /** Demand of live sessions over live capacity. */
  readonly offered: number;
  readonly requests: number;
  readonly meanMs: number;
  readonly p99Ms: number;
  readonly meanUtil: number;
  readonly maxUtil: number;
  readonly replicas: number;
}

export interface RunResult {
  readonly policy: string;
  readonly requests: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly sessions: number;
  readonly rejected: number;
  readonly timeouts: number;
  readonly replaced: number;
  readonly spawns: number;
  readonly retires: number;
  readonly boxesSeen: number;
  readonly events: number;
  readonly wallMs: number;
  readonly series: readonly SeriesPoint[];
  /** Mean utilisation of each server after the warm-up, and its p99 sojourn. */
  readonly nodes: readonly { readonly workers: number; readonly util: number; readonly demand: number; readonly p99Ms: number; readonly meanMs: number }[];
}

export type PolicyFactory = (balancer: number, random: Uniform) => PlacementPolicy;

export interface RunOptions {
  /** Options for Weft's balancer (the default maxReportAgeMs follows the report interval). */
  select?: SelectOptions;
  /** Weft's balancer counts its own pending placements this many times (default: balancers). */
  peers?: number;
  /** Apply the saturation rule (Weft's policy only); default: when the scenario sets replicas. */
  replicas?: boolean;
}

/** Run one scenario with one policy (a kind, or a factory of one policy object per balancer). */
export function runPlant(sc: Scenario, policy: PolicyKind | PolicyFactory, options: RunOptions = {}): RunResult {
  const wall0 = performance.now();
  const nN = sc.servers.length;
  const nA = sc.apps.length;
  const rep = sc.reports;
  const maxReportAgeMs = options.select?.maxReportAgeMs ?? 3 * rep.intervalMs + rep.delayMs + rep.jitterMs;
  const make: PolicyFactory =
    typeof policy === 'function' ? policy : (_b, random) => createPolicy(policy, { maxReportAgeMs, ...options.select, random, ...(policy === 'weft' ? { peers: options.peers ?? sc.balancers } : {}) });
  const policies: PlacementPolicy[] = [];
  for (let b = 0; b < sc.balancers; b++) policies.push(make(b, new SeededRandom(sc.seed * 7919 + b + 1).uniform()));
  const policyName = policies[0]?.name ?? 'none';
  const useReplicas = (options.replicas ?? sc.replicas !== null) && policyName === 'weft';
  const scale: ScaleConfig | undefined = useReplicas ? scaleConfig({ ...(sc.replicas ?? {}), select: { maxReportAgeMs, ...sc.replicas?.select } }) : undefined;
  const scaleRandom = new SeededRandom(sc.seed ^ 0x5ca1e).uniform();

  const rng = new SeededRandom(sc.seed);
  const heap = new EventHeap(1 << 16);
  const appNames = sc.apps.map((a) => a.name);
  const shareSum = sc.apps.reduce((a, x) => a + x.share, 0);
  const shares = sc.apps.map((a) => a.share / shareSum);
  const flashApp = sc.flash === null ? -1 : appNames.indexOf(sc.flash.app);
  const peakRate = peakSessionRate(sc);
  const maxRate = peakRate * (sc.flash === null ? 1 : 1 + (shares[flashApp] as number) * (sc.flash.arrivalX - 1));
  const inFlash = (t: number): boolean => sc.flash !== null && t >= sc.flash.atMs && t < sc.flash.atMs + sc.flash.durationMs;
  const activity = (a: number, t: number): number => (a === flashApp && inFlash(t) ? (sc.flash as { activityX: number }).activityX : 1);
  const costNow = (a: number, t: number): number => sessionCost(sc.apps[a] as Scenario['apps'][number], activity(a, t));
  const memOf = sc.apps.map((a) => a.memMB);
  const mean = sc.apps.map((a) => a.requests);

  // Nodes.
  const workers = Int32Array.from(sc.servers, (s) => s.workers);
  const busy = new Int32Array(nN);
  const qbuf: Int32Array[] = sc.servers.map(() => new Int32Array(256));
  const qhead = new Int32Array(nN);
  const qlen = new Int32Array(nN);
  const alive = new Uint8Array(nN).fill(1);
  const homeN = new Int32Array(nN);
  const homeApp = new Int32Array(nN * nA);
  const mem = new Float64Array(nN);
  const memLimit = Float64Array.from(sc.servers, (s) => s.memMB);
  const area = new Float64Array(nN);
  const areaT = new Float64Array(nN);
  const snapArea = new Float64Array(nN);
  const snapT = new Float64Array(nN);
  const seriesArea = new Float64Array(nN);
  const waitEwma = new Float64Array(nN);
  const slow = new Float64Array(nN).fill(1);
  const ids = sc.servers.map((_s, i) => `s${String(i).padStart(2, '0')}`);
  const view: { now: number; nodes: NodeReport[] } = { now: 0, nodes: [] };
  for (let i = 0; i < nN; i++) {
    view.nodes.push({ node: ids[i] as string, at: 0, capacity: workers[i] as number, load: 0, sessions: 0, queue: 0, util: 0, waitMs: 0, memUsed: 0, memLimit: memLimit[i] as number, alive: true });
  }
  const inflight: NodeReport[] = [];
  const freeInflight: number[] = [];

  // Sessions (slots reused through a free list).
  let cap = 1 << 15;
  let sSerial = new Int32Array(cap);
  let sApp = new Uint8Array(cap);
  let sBal = new Uint8Array(cap);
  let sHome = new Int32Array(cap);
  let sCur = new Int32Array(cap);
  let sLeft = new Int32Array(cap);
  let sJ = new Int32Array(cap);
  let sGen = new Int32Array(cap);
  let sState = new Uint8Array(cap); // 0 thinking, 1 queued, 2 in service, 3 lost (retry pending)
  let sStart = new Float64Array(cap); // when the box sent the request (sojourn is measured from here)
  let sArr = new Float64Array(cap); // when the serving node received it (its wait is measured from here [c24])
  const free: number[] = [];
  let used = 0;
  const grow = (): void => {
    const c2 = cap * 2;
    const g = <T extends Int32Array | Uint8Array | Float64Array>(a: T, C: new (n: number) => T): T => {
      const b = new C(c2);
      b.set(a);
      return b;
    };
    sSerial = g(sSerial, Int32Array);
    sApp = g(sApp, Uint8Array);
    sBal = g(sBal, Uint8Array);
    sHome = g(sHome, Int32Array);
    sCur = g(sCur, Int32Array);
    sLeft = g(sLeft, Int32Array);
    sJ = g(sJ, Int32Array);
    sGen = g(sGen, Int32Array);
    sState = g(sState, Uint8Array);
    sStart = g(sStart, Float64Array);
    sArr = g(sArr, Float64Array);
    cap = c2;
  };
  const boxes = new Uint8Array(sc.boxes);

  // Portions with replicas [c30]: key home * nA + app. `idle` keeps the timers of portions on one
  // node (saturated for a while, or recently shrunk) between ticks.
  type Portion = { home: number; app: number; nodes: number[]; shares: number[]; calmSince: number | undefined; hotSince: number | undefined; changedAt: number | undefined };
  const portions = new Map<number, Portion>();
  const idle = new Map<number, Portion>();

  // Results.
  const total = new LogHistogram();
  const perNode = sc.servers.map(() => new LogHistogram());
  const warmArea = new Float64Array(nN);
  const demandSum = new Float64Array(nN);
  let demandSamples = 0;
  let warmSeen = false;
  let seriesHist = new LogHistogram();
  const series: SeriesPoint[] = [];
  let sessionsStarted = 0;
  let live = 0;
  let rejected = 0;
  let timeouts = 0;
  let replaced = 0;
  let spawns = 0;
  let retires = 0;
  let events = 0;
  let now = 0;

  const touch = (i: number): void => {
    area[i] = (area[i] as number) + (busy[i] as number) * (now - (areaT[i] as number));
    areaT[i] = now;
  };

  const place = (s: number, exclude?: readonly string[]): number => {
    const a = sApp[s] as number;
    view.now = now;
    const r = (policies[sBal[s] as number] as PlacementPolicy).place(view, { app: appNames[a] as string, cost: costNow(a, now), mem: memOf[a] as number, exclude });
    return r.ok ? r.value.index : -1;
  };
  const attach = (s: number, node: number): void => {
    const a = sApp[s] as number;
    sHome[s] = node;
    homeN[node] = (homeN[node] as number) + 1;
    homeApp[node * nA + a] = (homeApp[node * nA + a] as number) + 1;
    mem[node] = (mem[node] as number) + (memOf[a] as number);
  };
  const detach = (s: number): void => {
    const a = sApp[s] as number;
    const node = sHome[s] as number;
    homeN[node] = (homeN[node] as number) - 1;
    homeApp[node * nA + a] = (homeApp[node * nA + a] as number) - 1;
    mem[node] = (mem[node] as number) - (memOf[a] as number);
    policies[sBal[s] as number]?.release?.(ids[node] as string, costNow(a, now), now);
  };

  const startService = (s: number, node: number): void => {
    sState[s] = 2;
    const w = now - (sArr[s] as number);
    waitEwma[node] = (waitEwma[node] as number) + 0.05 * (w - (waitEwma[node] as number));
    const app = sc.apps[sApp[s] as number] as Scenario['apps'][number];
    const svc = -app.serviceMs * (slow[node] as number) * Math.log(1 - hash01(sSerial[s] as number, sJ[s] as number, SALT_SVC));
    heap.push(now + svc, EV_DONE, s, sGen[s] as number);
  };

  const arrive = (s: number, node: number): void => {
    sCur[s] = node;
    sArr[s] = now;
    if ((busy[node] as number) < (workers[node] as number)) {
      touch(node);
      busy[node] = (busy[node] as number) + 1;
      startService(s, node);
      return;
    }
    sState[s] = 1;
    let q = qbuf[node] as Int32Array;
    const len = qlen[node] as number;
    if (len === q.length) {
      const q2 = new Int32Array(q.length * 2);
      for (let k = 0; k < len; k++) q2[k] = q[((qhead[node] as number) + k) % q.length] as number;
      qbuf[node] = q2;
      qhead[node] = 0;
      q = q2;
    }
    q[((qhead[node] as number) + len) % q.length] = s;
    qlen[node] = len + 1;
  };

  const route = (s: number): number => {
    const home = sHome[s] as number;
    const p = portions.get(home * nA + (sApp[s] as number));
    if (p === undefined) return home;
    return p.nodes[pickShare(p.shares, hash01(sSerial[s] as number, sJ[s] as number, SALT_ROUTE))] as number;
  };

  const request = (s: number): void => {
    if (sState[s] !== 3) sStart[s] = now;
    let node = route(s);
    if (alive[node] === 0) {
      // The session does not know yet: the request is lost and retried after the timeout.
      timeouts++;
      sState[s] = 3;
      sCur[s] = node;
      heap.push(now + sc.timeoutMs, EV_REQ, s, sGen[s] as number);
      return;
    }
    if ((sHome[s] as number) < 0) {
      node = place(s);
      if (node < 0) return endSession(s, false);
      attach(s, node);
    }
    arrive(s, node);
  };

  const endSession = (s: number, wasAttached = true): void => {
    if (wasAttached && (sHome[s] as number) >= 0) detach(s);
    sGen[s] = (sGen[s] as number) + 1;
    sHome[s] = -1;
    live--;
    free.push(s);
  };

  const done = (s: number): void => {
    const node = sCur[s] as number;
    const soj = now - (sStart[s] as number);
    if (now >= sc.warmupMs) {
      total.add(soj);
      (perNode[node] as LogHistogram).add(soj);
    }
    seriesHist.add(soj);
    touch(node);
    if ((qlen[node] as number) > 0) {
      const q = qbuf[node] as Int32Array;
      const next = q[qhead[node] as number] as number;
      qhead[node] = ((qhead[node] as number) + 1) % q.length;
      qlen[node] = (qlen[node] as number) - 1;
      startService(next, node);
    } else busy[node] = (busy[node] as number) - 1;
    sState[s] = 0;
    sJ[s] = (sJ[s] as number) + 1;
    const left = (sLeft[s] as number) - 1;
    sLeft[s] = left;
    if (left <= 0) return endSession(s);
    const a = sApp[s] as number;
    const think = (-(sc.apps[a] as Scenario['apps'][number]).thinkMs / activity(a, now)) * Math.log(1 - hash01(sSerial[s] as number, sJ[s] as number, SALT_THINK));
    heap.push(now + think, EV_REQ, s, sGen[s] as number);
  };

  const nextArrival = (): void => {
    heap.push(now + rng.exp(1 / maxRate), EV_ARRIVAL, 0);
  };

  const arrival = (): void => {
    nextArrival();
    const f = diurnalFactor(now, sc.diurnal);
    const fl = inFlash(now) ? (sc.flash as { arrivalX: number }).arrivalX : 1;
    // Thinning: accept with rate(t) / maxRate, then pick the app by its share at t.
    const rateNow = peakRate * f * (flashApp < 0 ? 1 : 1 + (shares[flashApp] as number) * (fl - 1));
    if (rng.next() * maxRate >= rateNow) return;
    let u = rng.next() * (1 + (flashApp < 0 ? 0 : (shares[flashApp] as number) * (fl - 1)));
    let a = 0;
    for (; a < nA - 1; a++) {
      const w = (shares[a] as number) * (a === flashApp ? fl : 1);
      if (u < w) break;
      u -= w;
    }
    if (free.length === 0) {
      if (used === cap) grow();
      free.push(used++);
    }
    const s = free.pop() as number;
    const serial = sessionsStarted++;
    sSerial[s] = serial;
    sApp[s] = a;
    sBal[s] = serial % sc.balancers;
    sJ[s] = 0;
    sState[s] = 0;
    sHome[s] = -1;
    const m = mean[a] as number;
    const uN = hash01(serial, 0, SALT_N);
    sLeft[s] = m <= 1 ? 1 : 1 + Math.floor(Math.log(1 - uN) / Math.log(1 - 1 / m));
    boxes[Math.floor(hash01(serial, 1, SALT_BOX) * sc.boxes)] = 1;
    live++;
    const node = place(s);
    if (node < 0) {
      rejected++;
      return endSession(s, false);
    }
    attach(s, node);
    sStart[s] = now;
    arrive(s, node);
  };

  const portionDemand = (home: number, a: number): number => (homeApp[home * nA + a] as number) * costNow(a, now);

  const snapshot = (i: number): NodeReport => {
    touch(i);
    const span = now - (snapT[i] as number);
    const util = span > 0 ? ((area[i] as number) - (snapArea[i] as number)) / ((workers[i] as number) * span) : 0;
    snapArea[i] = area[i] as number;
    snapT[i] = now;
    const apps: Record<string, number> = {};
    let load = 0;
    for (let a = 0; a < nA; a++) {
      const p = portions.get(i * nA + a);
      const own = portionDemand(i, a) * (p === undefined ? 1 : (p.shares[0] as number));
      apps[appNames[a] as string] = own;
      load += own;
    }
    for (const p of portions.values()) {
      for (let k = 1; k < p.nodes.length; k++) {
        if (p.nodes[k] !== i) continue;
        const d = portionDemand(p.home, p.app) * (p.shares[k] as number);
        const name = appNames[p.app] as string;
        apps[name] = (apps[name] ?? 0) + d;
        load += d;
      }
    }
    return {
      node: ids[i] as string, at: now, capacity: workers[i] as number, load, apps, sessions: homeN[i] as number,
      queue: (busy[i] as number) + (qlen[i] as number), util, waitMs: waitEwma[i] as number,
      memUsed: mem[i] as number, memLimit: memLimit[i] as number, alive: true,
    };
  };

  const fail = (i: number): void => {
    touch(i);
    alive[i] = 0;
    // Requests in the node are lost; their sessions retry after the timeout, from their start.
    for (let s = 0; s < used; s++) {
      if ((sHome[s] as number) < 0 || sCur[s] !== i || (sState[s] !== 1 && sState[s] !== 2)) continue;
      sGen[s] = (sGen[s] as number) + 1;
      sState[s] = 3;
      timeouts++;
      heap.push(Math.max(now, (sStart[s] as number) + sc.timeoutMs), EV_REQ, s, sGen[s] as number);
    }
    busy[i] = 0;
    qlen[i] = 0;
  };

  const detect = (i: number): void => {
    // [c16] the timing process declares the node dead; its sessions are placed again at once.
    view.nodes[i] = { ...(view.nodes[i] as NodeReport), alive: false };
    for (const [key, p] of portions) {
      if (p.home === i) portions.delete(key);
      else if (p.nodes.includes(i)) {
        const k = p.nodes.indexOf(i);
        p.nodes.splice(k, 1);
        p.shares.splice(k, 1);
        const sum = p.shares.reduce((x, y) => x + y, 0);
        p.shares = sum > 0 ? p.shares.map((v) => v / sum) : p.nodes.map(() => 1 / p.nodes.length);
        if (p.nodes.length === 1) portions.delete(key);
      }
    }
    for (let s = 0; s < used; s++) {
      if (sHome[s] !== i) continue;
      detach(s);
      sHome[s] = -1;
      const node = place(s);
      replaced++;
      if (node < 0) {
        rejected++;
        sGen[s] = (sGen[s] as number) + 1;
        live--;
        free.push(s);
        continue;
      }
      attach(s, node);
    }
  };

  const tick = (): void => {
    if (scale === undefined) return;
    view.now = now;
    for (let h = 0; h < nN; h++) {
      if (alive[h] === 0) continue;
      // One change per node per tick: the portion with the largest demand goes first.
      let best = -1;
      let bestD = 0;
      for (let a = 0; a < nA; a++) {
        const d = portionDemand(h, a);
        if (d > bestD) {
          bestD = d;
          best = a;
        }
      }
      for (let a = 0; a < nA; a++) {
        const key = h * nA + a;
        const p = portions.get(key) ?? idle.get(key) ?? { home: h, app: a, nodes: [h], shares: [1], calmSince: undefined, hotSince: undefined, changedAt: undefined };
        const state: PortionState = { app: appNames[a] as string, nodes: p.nodes.map((n) => ids[n] as string), shares: p.shares, demand: portionDemand(h, a), calmSince: p.calmSince, hotSince: p.hotSince, changedAt: p.changedAt };
        const { decision, calmSince, hotSince } = decideScale(view, state, scale, scaleRandom);
        p.calmSince = calmSince;
        p.hotSince = hotSince;
        if (decision.kind === 'spawn' && a === best) {
          p.nodes.push(ids.indexOf(decision.node));
          p.shares.push(0);
          p.changedAt = now;
          spawns++;
        } else if (decision.kind === 'retire') {
          const k = p.nodes.indexOf(ids.indexOf(decision.node));
          p.nodes.splice(k, 1);
          p.shares.splice(k, 1);
          p.changedAt = now;
          retires++;
        }
        if (p.nodes.length === 1 && (p.hotSince !== undefined || p.changedAt !== undefined)) idle.set(key, p);
        else idle.delete(key);
        if (p.nodes.length > 1) {
          p.shares = portionShares(view, { ...state, nodes: p.nodes.map((n) => ids[n] as string), shares: p.shares }, { maxReportAgeMs, waitTargetMs: scale.waitTargetMs });
          portions.set(key, p);
        } else portions.delete(key);
      }
    }
  };

  const seriesPoint = (): void => {
    let sumU = 0;
    let maxU = 0;
    let liveCap = 0;
    let demand = 0;
    let nodesUp = 0;
    for (let i = 0; i < nN; i++) {
      touch(i);
      const u = ((area[i] as number) - (seriesArea[i] as number)) / ((workers[i] as number) * sc.seriesMs);
      seriesArea[i] = area[i] as number;
      if (alive[i] === 0) continue;
      nodesUp++;
      sumU += u;
      if (u > maxU) maxU = u;
      liveCap += workers[i] as number;
      let d = 0;
      for (let a = 0; a < nA; a++) d += portionDemand(i, a);
      demand += d;
      if (now > sc.warmupMs) demandSum[i] = (demandSum[i] as number) + d / (workers[i] as number);
    }
    if (now > sc.warmupMs) demandSamples++;
    series.push({
      t: now, sessions: live, offered: liveCap > 0 ? demand / liveCap : 0, requests: seriesHist.count,
      meanMs: seriesHist.mean, p99Ms: seriesHist.percentile(99), meanUtil: nodesUp > 0 ? sumU / nodesUp : 0, maxUtil: maxU,
      replicas: [...portions.values()].reduce((x, p) => x + p.nodes.length - 1, 0),
    });
    seriesHist = new LogHistogram();
  };

  // Schedule the fixed events, then run.
  nextArrival();
  for (let i = 0; i < nN; i++) heap.push(rng.next() * rep.intervalMs, EV_SNAP, i);
  if (sc.failure !== null) heap.push(sc.failure.atMs, EV_FAIL, sc.failure.server);
  if (sc.slowdown !== null) {
    heap.push(sc.slowdown.atMs, EV_SLOW, sc.slowdown.server, 1);
    heap.push(sc.slowdown.atMs + sc.slowdown.durationMs, EV_SLOW, sc.slowdown.server, 0);
  }
  if (scale !== undefined) heap.push(rep.intervalMs, EV_TICK, 0);
  heap.push(sc.seriesMs, EV_SERIES, 0);

  const end = sc.durationMs;
  while (heap.pop()) {
    now = heap.time;
    if (now > end) break;
    if (!warmSeen && now >= sc.warmupMs) {
      warmSeen = true;
      for (let i = 0; i < nN; i++) {
        touch(i);
        warmArea[i] = area[i] as number;
      }
    }
    events++;
    const arg = heap.arg;
    switch (heap.kind) {
      case EV_REQ:
        if (heap.aux === sGen[arg]) request(arg);
        break;
      case EV_DONE:
        if (heap.aux === sGen[arg]) done(arg);
        break;
      case EV_ARRIVAL:
        arrival();
        break;
      case EV_SNAP:
        if (alive[arg] === 1) {
          const r = snapshot(arg);
          const slot = freeInflight.pop() ?? inflight.length;
          inflight[slot] = r;
          heap.push(now + rep.delayMs + rng.next() * rep.jitterMs, EV_DELIVER, slot, arg);
        }
        heap.push(now + rep.intervalMs, EV_SNAP, arg);
        break;
      case EV_DELIVER: {
        const r = inflight[arg] as NodeReport;
        freeInflight.push(arg);
        const cur = view.nodes[heap.aux] as NodeReport;
        if (cur.alive !== false && r.at > cur.at) view.nodes[heap.aux] = r;
        break;
      }
      case EV_FAIL:
        fail(arg);
        heap.push(now + 3 * sc.heartbeatMs, EV_DETECT, arg);
        break;
      case EV_DETECT:
        detect(arg);
        break;
      case EV_TICK:
        tick();
        heap.push(now + rep.intervalMs, EV_TICK, 0);
        break;
      case EV_SLOW:
        slow[arg] = heap.aux === 1 ? (sc.slowdown as { factor: number }).factor : 1;
        break;
      case EV_SERIES:
        seriesPoint();
        heap.push(now + sc.seriesMs, EV_SERIES, 0);
        break;
    }
  }
  now = end;
  for (let i = 0; i < nN; i++) touch(i);
  const nodes = sc.servers.map((sv, i) => ({
    workers: sv.workers, util: ((area[i] as number) - (warmArea[i] as number)) / (sv.workers * (end - sc.warmupMs)),
    demand: demandSamples > 0 ? (demandSum[i] as number) / demandSamples : 0,
    p99Ms: (perNode[i] as LogHistogram).percentile(99), meanMs: (perNode[i] as LogHistogram).mean,
  }));
  let seen = 0;
  for (let b = 0; b < boxes.length; b++) seen += boxes[b] as number;
  return {
    policy: policyName, requests: total.count, meanMs: total.mean, p50Ms: total.percentile(50), p99Ms: total.percentile(99),
    p999Ms: total.percentile(99.9), maxMs: total.max, sessions: sessionsStarted, rejected, timeouts, replaced, spawns, retires,
    boxesSeen: seen, events, wallMs: performance.now() - wall0, series, nodes,
  };
}

/** The view type the simulator hands to policies (for tests that inspect it). */
export type SimView = ClusterView;
