// The cable-plant simulator [c13-c16, c25, c30]: boxes start sessions (a Poisson process following
// the diurnal curve), each session's server portion is placed by a balancer policy and then sends
// requests to it; servers are FIFO multi-worker queues. Runs the same policy code as the live head-end.
// Randomness of the trace is a hash of (session, request), so every policy sees the same trace.

import { SeededRandom, createPolicy, hash01, nodeLoad, scaleConfig } from '../policy/index.ts';
import type { HostedWork, NodeReport, PlacementPolicy, PolicyKind } from '../policy/index.ts';
import { EventHeap } from './heap.ts';
import { LogHistogram } from './histogram.ts';
import { ReplicaSet } from './plant-replicas.ts';
import { IN_SERVICE, LOST, NodeQueues, QUEUED, SessionTable, THINKING } from './plant-sessions.ts';
import type { PolicyFactory, RunOptions, RunResult, SeriesPoint } from './plant-types.ts';
import { Arrivals } from './plant-arrivals.ts';
import type { Scenario } from './scenario.ts';

export type { PolicyFactory, RunOptions, RunResult, SeriesPoint, NodeSummary } from './plant-types.ts';

// Event kinds, and the salts that make each random quantity of a session its own hash.
const [EV_ARRIVAL, EV_REQ, EV_DONE, EV_SNAP, EV_DELIVER, EV_FAIL, EV_DETECT, EV_TICK, EV_SERIES, EV_SLOW] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] as const;
const [SALT_N, SALT_THINK, SALT_SVC, SALT_ROUTE, SALT_BOX] = [11, 12, 13, 14, 15] as const;

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

  const rng = new SeededRandom(sc.seed);
  const heap = new EventHeap(1 << 16);
  const appNames = sc.apps.map((a) => a.name);
  const arrivals = new Arrivals(sc, rng);
  const costNow = (a: number, t: number): number => arrivals.cost(a, t);
  const memOf = sc.apps.map((a) => a.memMB);
  const mean = sc.apps.map((a) => a.requests);

  // Nodes.
  const workers = Int32Array.from(sc.servers, (s) => s.workers);
  const busy = new Int32Array(nN);
  const queues = new NodeQueues(nN);
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
  const replicas = useReplicas
    ? new ReplicaSet(appNames, ids, scaleConfig({ ...(sc.replicas ?? {}), select: { maxReportAgeMs, ...sc.replicas?.select } }), new SeededRandom(sc.seed ^ 0x5ca1e).uniform(), maxReportAgeMs)
    : undefined;
  const inflight: NodeReport[] = [];
  const freeInflight: number[] = [];

  const S = new SessionTable();
  const boxes = new Uint8Array(sc.boxes);

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
  let events = 0;
  let now = 0;

  const touch = (i: number): void => {
    area[i] = (area[i] as number) + (busy[i] as number) * (now - (areaT[i] as number));
    areaT[i] = now;
  };

  const place = (s: number, exclude?: readonly string[]): number => {
    const a = S.app[s] as number;
    view.now = now;
    const r = (policies[S.balancer[s] as number] as PlacementPolicy).place(view, { app: appNames[a] as string, cost: costNow(a, now), mem: memOf[a] as number, exclude });
    return r.ok ? r.value.index : -1;
  };
  const attach = (s: number, node: number): void => {
    const a = S.app[s] as number;
    S.home[s] = node;
    homeN[node] = (homeN[node] as number) + 1;
    homeApp[node * nA + a] = (homeApp[node * nA + a] as number) + 1;
    mem[node] = (mem[node] as number) + (memOf[a] as number);
  };
  const detach = (s: number): void => {
    const a = S.app[s] as number;
    const node = S.home[s] as number;
    homeN[node] = (homeN[node] as number) - 1;
    homeApp[node * nA + a] = (homeApp[node * nA + a] as number) - 1;
    mem[node] = (mem[node] as number) - (memOf[a] as number);
    policies[S.balancer[s] as number]?.release?.(ids[node] as string, costNow(a, now), now);
  };

  const startService = (s: number, node: number): void => {
    S.state[s] = IN_SERVICE;
    const w = now - (S.arrived[s] as number);
    waitEwma[node] = (waitEwma[node] as number) + 0.05 * (w - (waitEwma[node] as number));
    const app = sc.apps[S.app[s] as number] as Scenario['apps'][number];
    const svc = -app.serviceMs * (slow[node] as number) * Math.log(1 - hash01(S.serial[s] as number, S.j[s] as number, SALT_SVC));
    heap.push(now + svc, EV_DONE, s, S.gen[s] as number);
  };

  const arrive = (s: number, node: number): void => {
    S.cur[s] = node;
    S.arrived[s] = now;
    if ((busy[node] as number) < (workers[node] as number)) {
      touch(node);
      busy[node] = (busy[node] as number) + 1;
      startService(s, node);
      return;
    }
    S.state[s] = QUEUED;
    queues.push(node, s);
  };

  const route = (s: number): number => {
    const home = S.home[s] as number;
    return replicas === undefined ? home : replicas.route(home, S.app[s] as number, hash01(S.serial[s] as number, S.j[s] as number, SALT_ROUTE));
  };

  const request = (s: number): void => {
    if (S.state[s] !== LOST) S.start[s] = now;
    let node = route(s);
    if (alive[node] === 0) {
      // The session does not know yet: the request is lost and retried after the timeout.
      timeouts++;
      S.state[s] = LOST;
      S.cur[s] = node;
      heap.push(now + sc.timeoutMs, EV_REQ, s, S.gen[s] as number);
      return;
    }
    if ((S.home[s] as number) < 0) {
      node = place(s);
      if (node < 0) return endSession(s, false);
      attach(s, node);
    }
    arrive(s, node);
  };

  const endSession = (s: number, wasAttached = true): void => {
    if (wasAttached && (S.home[s] as number) >= 0) detach(s);
    live--;
    S.release(s);
  };

  const done = (s: number): void => {
    const node = S.cur[s] as number;
    const soj = now - (S.start[s] as number);
    if (now >= sc.warmupMs) {
      total.add(soj);
      (perNode[node] as LogHistogram).add(soj);
    }
    seriesHist.add(soj);
    touch(node);
    const next = queues.shift(node);
    if (next >= 0) startService(next, node);
    else busy[node] = (busy[node] as number) - 1;
    S.state[s] = THINKING;
    S.j[s] = (S.j[s] as number) + 1;
    const left = (S.left[s] as number) - 1;
    S.left[s] = left;
    if (left <= 0) return endSession(s);
    const a = S.app[s] as number;
    const think = (-(sc.apps[a] as Scenario['apps'][number]).thinkMs / arrivals.activity(a, now)) * Math.log(1 - hash01(S.serial[s] as number, S.j[s] as number, SALT_THINK));
    heap.push(now + think, EV_REQ, s, S.gen[s] as number);
  };

  const nextArrival = (): void => {
    heap.push(now + arrivals.gap(), EV_ARRIVAL, 0);
  };

  const arrival = (): void => {
    nextArrival();
    const a = arrivals.accept(now);
    if (a < 0) return;
    const s = S.alloc();
    const serial = sessionsStarted++;
    S.serial[s] = serial;
    S.app[s] = a;
    S.balancer[s] = serial % sc.balancers;
    S.j[s] = 0;
    S.state[s] = THINKING;
    S.home[s] = -1;
    const m = mean[a] as number;
    const uN = hash01(serial, 0, SALT_N);
    S.left[s] = m <= 1 ? 1 : 1 + Math.floor(Math.log(1 - uN) / Math.log(1 - 1 / m));
    boxes[Math.floor(hash01(serial, 1, SALT_BOX) * sc.boxes)] = 1;
    live++;
    const node = place(s);
    if (node < 0) {
      rejected++;
      return endSession(s, false);
    }
    attach(s, node);
    S.start[s] = now;
    arrive(s, node);
  };

  const portionDemand = (home: number, a: number): number => (homeApp[home * nA + a] as number) * costNow(a, now);

  const snapshot = (i: number): NodeReport => {
    touch(i);
    const span = now - (snapT[i] as number);
    const util = span > 0 ? ((area[i] as number) - (snapArea[i] as number)) / ((workers[i] as number) * span) : 0;
    snapArea[i] = area[i] as number;
    snapT[i] = now;
    // [D16] the same definition of load as the live sampler: the demand of the hosted portions.
    const work: HostedWork[] = [];
    for (let a = 0; a < nA; a++) {
      work.push({ app: appNames[a] as string, kind: 'session', count: homeApp[i * nA + a] as number, cost: costNow(a, now), share: replicas === undefined ? 1 : replicas.ownShare(i, a) });
    }
    replicas?.hostedWork(i, portionDemand, work);
    const { load, apps, sessions } = nodeLoad(work);
    return {
      node: ids[i] as string, at: now, capacity: workers[i] as number, load, apps, sessions,
      queue: (busy[i] as number) + queues.length(i), util, waitMs: waitEwma[i] as number,
      memUsed: mem[i] as number, memLimit: memLimit[i] as number, alive: true,
    };
  };

  const fail = (i: number): void => {
    touch(i);
    alive[i] = 0;
    // Requests in the node are lost; their sessions retry after the timeout, from their start.
    for (let s = 0; s < S.used; s++) {
      if ((S.home[s] as number) < 0 || S.cur[s] !== i || (S.state[s] !== QUEUED && S.state[s] !== IN_SERVICE)) continue;
      S.gen[s] = (S.gen[s] as number) + 1;
      S.state[s] = LOST;
      timeouts++;
      heap.push(Math.max(now, (S.start[s] as number) + sc.timeoutMs), EV_REQ, s, S.gen[s] as number);
    }
    busy[i] = 0;
    queues.clear(i);
  };

  const detect = (i: number): void => {
    // [c16] the timing process declares the node dead; its sessions are placed again at once.
    view.nodes[i] = { ...(view.nodes[i] as NodeReport), alive: false };
    replicas?.dropNode(i);
    for (let s = 0; s < S.used; s++) {
      if (S.home[s] !== i) continue;
      detach(s);
      S.home[s] = -1;
      const node = place(s);
      replaced++;
      if (node < 0) {
        rejected++;
        live--;
        S.release(s);
        continue;
      }
      attach(s, node);
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
      replicas: replicas?.count ?? 0,
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
  if (replicas !== undefined) heap.push(rep.intervalMs, EV_TICK, 0);
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
        if (heap.aux === S.gen[arg]) request(arg);
        break;
      case EV_DONE:
        if (heap.aux === S.gen[arg]) done(arg);
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
        view.now = now;
        replicas?.tick(view, now, alive, portionDemand);
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
    p999Ms: total.percentile(99.9), maxMs: total.max, sessions: sessionsStarted, rejected, timeouts, replaced, spawns: replicas?.spawns ?? 0, retires: replicas?.retires ?? 0,
    boxesSeen: seen, events, wallMs: performance.now() - wall0, series, nodes,
  };
}
