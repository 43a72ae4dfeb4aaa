// The emulated return channel: a loopback TCP relay between a box and the head-end's broker that
// applies the profile's channel conditions: added latency each way, loss (as TCP sees it: a lost
// segment arrives one retransmission timeout late), and outages: a dead path (connections
// accepted, nothing ever answered) or a reset (connections cut, new ones refused at once).

import { type Server, type Socket, connect, createServer } from 'node:net';
import { ArgumentError, nonNegative, rejectUnknown } from '../runtime/index.ts';

export type PathMode = 'open' | 'dead' | 'reset';

export interface ReturnPathOptions {
  /** The broker the relay forwards to. */
  target: { host: string; port: number };
  /** Added one-way latency, ms (each direction). Default 0. */
  latencyMs?: number;
  /** Share of segments "lost", 0..1: each arrives `rtoMs` late, in order, as under TCP. Default 0. */
  loss?: number;
  /** Retransmission delay of a lost segment, ms. Default max(200, 3 x the round trip). */
  rtoMs?: number;
  mode?: PathMode;
  random?: () => number;
}

interface Pair {
  client: Socket;
  upstream: Socket | undefined;
  stalled: boolean;
  /** The upstream connect, due one latency after the box's. */
  opening?: NodeJS.Timeout | undefined;
  /** What the box sent that came due before the upstream connect did (its latency was lowered meanwhile). */
  early: Buffer[];
}

export interface ReturnPathStats {
  accepted: number;
  forwardedBytes: number;
  delayedByLoss: number;
  swallowed: number;
  reset: number;
}

export class ReturnPath {
  readonly url: string;
  readonly port: number;
  #server: Server;
  #o: ReturnPathOptionsResolved;
  #pairs = new Set<Pair>();
  #stats: ReturnPathStats = { accepted: 0, forwardedBytes: 0, delayedByLoss: 0, swallowed: 0, reset: 0 };

  private constructor(server: Server, port: number, o: ReturnPathOptionsResolved) {
    this.#server = server;
    this.port = port;
    this.url = `mqtt://127.0.0.1:${port}`;
    this.#o = o;
  }

  static async start(options: ReturnPathOptions): Promise<ReturnPath> {
    rejectUnknown('ReturnPath', options, ['target', 'latencyMs', 'loss', 'rtoMs', 'mode', 'random']);
    const o: ReturnPathOptionsResolved = {
      target: options.target,
      latencyMs: nonNegative('ReturnPath', 'latencyMs', options.latencyMs ?? 0),
      loss: nonNegative('ReturnPath', 'loss', options.loss ?? 0),
      rtoMs: options.rtoMs,
      mode: options.mode ?? 'open',
      random: options.random ?? Math.random,
    };
    if (o.loss > 1) throw new ArgumentError('ReturnPath: loss must be in 0..1', 'loss');
    // Connections arrive only after listen(), when `self` below exists.
    const server = createServer({ noDelay: true }, (s) => self.#accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    const self = new ReturnPath(server, typeof addr === 'object' && addr !== null ? addr.port : 0, o);
    return self;
  }

  get mode(): PathMode {
    return this.#o.mode;
  }

  stats(): ReturnPathStats {
    return { ...this.#stats };
  }

  /** `dead`: live connections stall and new ones are accepted and never answered; `reset`: all cut. */
  setMode(mode: PathMode): void {
    this.#o.mode = mode;
    if (mode === 'open') return;
    for (const p of this.#pairs) {
      if (mode === 'dead') p.stalled = true;
      else this.#cut(p);
    }
  }

  setConditions(c: { latencyMs?: number; loss?: number }): void {
    if (c.latencyMs !== undefined) this.#o.latencyMs = nonNegative('ReturnPath', 'latencyMs', c.latencyMs);
    if (c.loss !== undefined) this.#o.loss = nonNegative('ReturnPath', 'loss', c.loss);
  }

  async close(): Promise<void> {
    for (const p of this.#pairs) this.#cut(p);
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.#stats.accepted++;
    client.on('error', () => {});
    client.setNoDelay(true);
    if (this.#o.mode === 'reset') {
      this.#stats.reset++;
      client.resetAndDestroy();
      return;
    }
    const pair: Pair = { client, upstream: undefined, stalled: this.#o.mode === 'dead', early: [] };
    this.#pairs.add(pair);
    client.on('close', () => this.#cut(pair));
    if (pair.stalled) {
      client.on('data', () => void this.#stats.swallowed++);
      return;
    }
    // The broker accepts the connection one latency after the box's connect, as after a TCP
    // handshake over the path, and the CONNECT comes with it. Connected at once, the broker saw
    // every CONNECT a latency (and, in a busy fleet process, its timers' lateness) after its
    // accept, and its CONNECT gate judged that wait its own queue [issue 19.5].
    const open = (): void => {
      pair.opening = undefined;
      if (pair.stalled) return;
      const up = connect({ host: this.#o.target.host, port: this.#o.target.port, noDelay: true });
      pair.upstream = up;
      up.on('error', () => this.#cut(pair));
      up.on('close', () => this.#cut(pair));
      for (const chunk of pair.early.splice(0)) {
        this.#stats.forwardedBytes += chunk.length;
        up.write(chunk);
      }
      this.#relay(pair, up, () => client);
    };
    this.#relay(pair, client, () => pair.upstream);
    if (this.#o.latencyMs < 1) open();
    else pair.opening = setTimeout(open, this.#o.latencyMs);
  }

  // Deliver each chunk after the latency (plus a retransmission delay when "lost"), in order.
  #relay(pair: Pair, from: Socket, target: () => Socket | undefined): void {
    let last = 0;
    from.on('data', (chunk: Buffer) => {
      if (pair.stalled) {
        this.#stats.swallowed++;
        return;
      }
      const now = performance.now();
      const o = this.#o;
      let due = now + o.latencyMs;
      if (o.loss > 0 && o.random() < o.loss) {
        due += o.rtoMs ?? Math.max(200, 6 * o.latencyMs);
        this.#stats.delayedByLoss++;
      }
      due = Math.max(due, last);
      last = due;
      const write = (): void => {
        const to = target();
        if (to === undefined) return void (pair.stalled || pair.early.push(chunk)); // sent once the upstream connects
        if (pair.stalled || to.destroyed) return;
        this.#stats.forwardedBytes += chunk.length;
        to.write(chunk);
      };
      if (due - now < 1) write();
      else setTimeout(write, due - now);
    });
  }

  #cut(p: Pair): void {
    if (!this.#pairs.delete(p)) return;
    p.stalled = true;
    clearTimeout(p.opening);
    p.client.destroy();
    p.upstream?.destroy();
  }
}

interface ReturnPathOptionsResolved {
  target: { host: string; port: number };
  latencyMs: number;
  loss: number;
  rtoMs: number | undefined;
  mode: PathMode;
  random: () => number;
}
