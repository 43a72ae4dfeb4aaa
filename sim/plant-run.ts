// One run of the cable-plant simulator [c13-c16, c25, c30]: the events that change the plant
// (arrivals, requests, completions, failures) as methods over its state (plant-state.ts), and the
// event loop. runPlant (plant.ts) builds the balancers and drives it; this file makes no policy.

import { hash01 } from '../policy/index.ts';
import type { NodeReport, PlacementPolicy } from '../policy/index.ts';
import { IN_SERVICE, LOST, QUEUED, THINKING } from './plant-sessions.ts';
import type { LogHistogram } from './histogram.ts';
import { PlantState } from './plant-state.ts';
import type { Scenario } from './scenario.ts';

// Event kinds, and the salts that make each random quantity of a session its own hash.
const [EV_ARRIVAL, EV_REQ, EV_DONE, EV_SNAP, EV_DELIVER, EV_FAIL, EV_DETECT, EV_TICK, EV_SERIES, EV_SLOW] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] as const;
const [SALT_N, SALT_THINK, SALT_SVC, SALT_ROUTE, SALT_BOX] = [11, 12, 13, 14, 15] as const;

export class PlantRun extends PlantState {
  place(s: number, exclude?: readonly string[]): number {
    const S = this.S;
    const a = S.app[s] as number;
    this.view.now = this.now;
    const r = (this.policies[S.balancer[s] as number] as PlacementPolicy).place(this.view, { app: this.appNames[a] as string, cost: this.costNow(a, this.now), mem: this.memOf[a] as number, exclude });
    return r.ok ? r.value.index : -1;
  }

  attach(s: number, node: number): void {
    const S = this.S;
    const a = S.app[s] as number;
    const nA = this.nA;
    S.home[s] = node;
    this.homeN[node] = (this.homeN[node] as number) + 1;
    this.homeApp[node * nA + a] = (this.homeApp[node * nA + a] as number) + 1;
    this.mem[node] = (this.mem[node] as number) + (this.memOf[a] as number);
  }

  detach(s: number): void {
    const S = this.S;
    const a = S.app[s] as number;
    const nA = this.nA;
    const node = S.home[s] as number;
    this.homeN[node] = (this.homeN[node] as number) - 1;
    this.homeApp[node * nA + a] = (this.homeApp[node * nA + a] as number) - 1;
    this.mem[node] = (this.mem[node] as number) - (this.memOf[a] as number);
    this.policies[S.balancer[s] as number]?.release?.(this.ids[node] as string, this.costNow(a, this.now), this.now);
  }

  startService(s: number, node: number): void {
    const S = this.S;
    const now = this.now;
    S.state[s] = IN_SERVICE;
    const w = now - (S.arrived[s] as number);
    this.waitEwma[node] = (this.waitEwma[node] as number) + 0.05 * (w - (this.waitEwma[node] as number));
    const app = this.sc.apps[S.app[s] as number] as Scenario['apps'][number];
    const svc = -app.serviceMs * (this.slow[node] as number) * Math.log(1 - hash01(S.serial[s] as number, S.j[s] as number, SALT_SVC));
    this.heap.push(now + svc, EV_DONE, s, S.gen[s] as number);
  }

  arrive(s: number, node: number): void {
    const S = this.S;
    S.cur[s] = node;
    S.arrived[s] = this.now;
    if ((this.busy[node] as number) < (this.workers[node] as number)) {
      this.touch(node);
      this.busy[node] = (this.busy[node] as number) + 1;
      this.startService(s, node);
      return;
    }
    S.state[s] = QUEUED;
    this.queues.push(node, s);
  }

  route(s: number): number {
    const S = this.S;
    const home = S.home[s] as number;
    const replicas = this.replicas;
    return replicas === undefined ? home : replicas.route(home, S.app[s] as number, hash01(S.serial[s] as number, S.j[s] as number, SALT_ROUTE));
  }

  request(s: number): void {
    const S = this.S;
    if (S.state[s] !== LOST) S.start[s] = this.now;
    let node = this.route(s);
    if (this.alive[node] === 0) {
      // The session does not know yet: the request is lost and retried after the timeout.
      this.timeouts++;
      S.state[s] = LOST;
      S.cur[s] = node;
      this.heap.push(this.now + this.sc.timeoutMs, EV_REQ, s, S.gen[s] as number);
      return;
    }
    if ((S.home[s] as number) < 0) {
      node = this.place(s);
      if (node < 0) return this.endSession(s, false);
      this.attach(s, node);
    }
    this.arrive(s, node);
  }

  endSession(s: number, wasAttached = true): void {
    if (wasAttached && (this.S.home[s] as number) >= 0) this.detach(s);
    this.live--;
    this.S.release(s);
  }

  done(s: number): void {
    const S = this.S;
    const now = this.now;
    const node = S.cur[s] as number;
    const soj = now - (S.start[s] as number);
    if (now >= this.sc.warmupMs) {
      this.total.add(soj);
      (this.perNode[node] as LogHistogram).add(soj);
    }
    this.seriesHist.add(soj);
    this.touch(node);
    const next = this.queues.shift(node);
    if (next >= 0) this.startService(next, node);
    else this.busy[node] = (this.busy[node] as number) - 1;
    S.state[s] = THINKING;
    S.j[s] = (S.j[s] as number) + 1;
    const left = (S.left[s] as number) - 1;
    S.left[s] = left;
    if (left <= 0) return this.endSession(s);
    const a = S.app[s] as number;
    const think = (-(this.sc.apps[a] as Scenario['apps'][number]).thinkMs / this.arrivals.activity(a, now)) * Math.log(1 - hash01(S.serial[s] as number, S.j[s] as number, SALT_THINK));
    this.heap.push(now + think, EV_REQ, s, S.gen[s] as number);
  }

  nextArrival(): void {
    this.heap.push(this.now + this.arrivals.gap(), EV_ARRIVAL, 0);
  }

  arrival(): void {
    this.nextArrival();
    const S = this.S;
    const sc = this.sc;
    const a = this.arrivals.accept(this.now);
    if (a < 0) return;
    const s = S.alloc();
    const serial = this.sessionsStarted++;
    S.serial[s] = serial;
    S.app[s] = a;
    S.balancer[s] = serial % sc.balancers;
    S.j[s] = 0;
    S.state[s] = THINKING;
    S.home[s] = -1;
    const m = this.mean[a] as number;
    const uN = hash01(serial, 0, SALT_N);
    S.left[s] = m <= 1 ? 1 : 1 + Math.floor(Math.log(1 - uN) / Math.log(1 - 1 / m));
    this.boxes[Math.floor(hash01(serial, 1, SALT_BOX) * sc.boxes)] = 1;
    this.live++;
    const node = this.place(s);
    if (node < 0) {
      this.rejected++;
      return this.endSession(s, false);
    }
    this.attach(s, node);
    S.start[s] = this.now;
    this.arrive(s, node);
  }

  fail(i: number): void {
    const S = this.S;
    this.touch(i);
    this.alive[i] = 0;
    // Requests in the node are lost; their sessions retry after the timeout, from their start.
    for (let s = 0; s < S.used; s++) {
      if ((S.home[s] as number) < 0 || S.cur[s] !== i || (S.state[s] !== QUEUED && S.state[s] !== IN_SERVICE)) continue;
      S.gen[s] = (S.gen[s] as number) + 1;
      S.state[s] = LOST;
      this.timeouts++;
      this.heap.push(Math.max(this.now, (S.start[s] as number) + this.sc.timeoutMs), EV_REQ, s, S.gen[s] as number);
    }
    this.busy[i] = 0;
    this.queues.clear(i);
  }

  detect(i: number): void {
    const S = this.S;
    // [c16] the timing process declares the node dead; its sessions are placed again at once.
    this.view.nodes[i] = { ...(this.view.nodes[i] as NodeReport), alive: false };
    this.replicas?.dropNode(i);
    for (let s = 0; s < S.used; s++) {
      if (S.home[s] !== i) continue;
      this.detach(s);
      S.home[s] = -1;
      const node = this.place(s);
      this.replaced++;
      if (node < 0) {
        this.rejected++;
        this.live--;
        S.release(s);
        continue;
      }
      this.attach(s, node);
    }
  }

  /** Schedule the fixed events: the first arrival, report phases, failure, slowdown, ticks, series. */
  schedule(): void {
    const sc = this.sc;
    const heap = this.heap;
    const rep = sc.reports;
    this.nextArrival();
    for (let i = 0; i < this.nN; i++) heap.push(this.rng.next() * rep.intervalMs, EV_SNAP, i);
    if (sc.failure !== null) heap.push(sc.failure.atMs, EV_FAIL, sc.failure.server);
    if (sc.slowdown !== null) {
      heap.push(sc.slowdown.atMs, EV_SLOW, sc.slowdown.server, 1);
      heap.push(sc.slowdown.atMs + sc.slowdown.durationMs, EV_SLOW, sc.slowdown.server, 0);
    }
    if (this.replicas !== undefined) heap.push(rep.intervalMs, EV_TICK, 0);
    heap.push(sc.seriesMs, EV_SERIES, 0);
  }

  /** The event loop: pop and dispatch until the heap is empty or the scenario's end is passed. */
  run(): void {
    const sc = this.sc;
    const heap = this.heap;
    const S = this.S;
    const rep = sc.reports;
    const end = sc.durationMs;
    while (heap.pop()) {
      const now = heap.time;
      this.now = now;
      if (now > end) break;
      if (!this.warmSeen && now >= sc.warmupMs) this.warm();
      this.events++;
      const arg = heap.arg;
      switch (heap.kind) {
        case EV_REQ:
          if (heap.aux === S.gen[arg]) this.request(arg);
          break;
        case EV_DONE:
          if (heap.aux === S.gen[arg]) this.done(arg);
          break;
        case EV_ARRIVAL:
          this.arrival();
          break;
        case EV_SNAP:
          if (this.alive[arg] === 1) {
            const r = this.snapshot(arg);
            const slot = this.freeInflight.pop() ?? this.inflight.length;
            this.inflight[slot] = r;
            heap.push(now + rep.delayMs + this.rng.next() * rep.jitterMs, EV_DELIVER, slot, arg);
          }
          heap.push(now + rep.intervalMs, EV_SNAP, arg);
          break;
        case EV_DELIVER: {
          const r = this.inflight[arg] as NodeReport;
          this.freeInflight.push(arg);
          const cur = this.view.nodes[heap.aux] as NodeReport;
          if (cur.alive !== false && r.at > cur.at) this.view.nodes[heap.aux] = r;
          break;
        }
        case EV_FAIL:
          this.fail(arg);
          heap.push(now + 3 * sc.heartbeatMs, EV_DETECT, arg);
          break;
        case EV_DETECT:
          this.detect(arg);
          break;
        case EV_TICK:
          this.view.now = now;
          this.replicas?.tick(this.view, now, this.alive, this.portionDemand);
          heap.push(now + rep.intervalMs, EV_TICK, 0);
          break;
        case EV_SLOW:
          this.slow[arg] = heap.aux === 1 ? (sc.slowdown as { factor: number }).factor : 1;
          break;
        case EV_SERIES:
          this.seriesPoint();
          heap.push(now + sc.seriesMs, EV_SERIES, 0);
          break;
      }
    }
    this.now = end;
  }

}
