// The MQTT transport's connect attempts (mqtt.ts): each waits for its CONNACK until a deadline of
// a few RTTs, confirmed over the local loop's lag, then gives the dead-path verdict. With
// deadPath.lateMs the verdict's connection stays open (issue 13.4: a broker behind on its
// CONNECTs is slow, not dead): a CONNACK within lateMs of the first verdict makes the link up on
// it, and a retry meanwhile waits on it again instead of sending a second CONNECT (under the same
// client id, a second CONNECT would also take the first connection over). No sockets here.

import { type Clock, TimeoutError, type TimerHandle } from '../runtime/index.ts';
import type { AttemptHooks, ConnectAttempt } from './mqtt-attempt.ts';
import { LinkDownError } from './mqtt-errors.ts';
import type { ResolvedMqttOptions } from './mqtt-options.ts';
import { type RttEstimator, connectTimeoutMs } from './reconnect.ts';

/** What the dial needs of its transport. */
export interface DialHost {
  isClosed(): boolean;
  /** A new attempt (a new connection and CONNECT) with these hooks; its SUBACK may take `subackMs`. */
  open(hooks: Pick<AttemptHooks, 'deadline' | 'rtt' | 'onConnack'>, subackMs: number): ConnectAttempt;
  /** The verdict's error when the connection stays open (SuspectPathError, naming the transport). */
  suspect(message: string, afterMs: number): Error;
  /** Counted: a verdict, or an attempt that failed otherwise. */
  failed(): void;
  /** A kept attempt came up while nobody waited on it. */
  lateUp(a: ConnectAttempt): void;
  /** A kept attempt ended without its CONNACK while nobody waited on it. */
  lateOver(): void;
}

export class MqttDial {
  #o: ResolvedMqttOptions;
  #host: DialHost;
  #rtt: RttEstimator;
  /** Dead-path deadlines, confirmed over the local loop's lag [13.4]: a CONNACK read late is slow, not dead. */
  #deadline: Clock;
  #timeouts = 0;
  /** The attempt a caller waits on now. */
  #awaited: ConnectAttempt | undefined;
  #kept: ConnectAttempt | undefined;
  /** On the clock: when the kept attempt is given up. */
  #keptUntil = 0;
  #keptTimer: TimerHandle | undefined;

  constructor(o: ResolvedMqttOptions, rtt: RttEstimator, deadline: Clock, host: DialHost) {
    this.#o = o;
    this.#rtt = rtt;
    this.#deadline = deadline;
    this.#host = host;
  }

  /** What the next wait for a CONNACK allows before the verdict, ms (doubled per verdict in a row). */
  get timeoutMs(): number {
    return connectTimeoutMs(this.#rtt, this.#o.deadPath, this.#timeouts);
  }

  /** The attempt kept open after its verdict for a late CONNACK, while within `deadPath.lateMs` of that verdict. */
  get kept(): ConnectAttempt | undefined {
    return this.#kept !== undefined && this.#o.clock.now() < this.#keptUntil ? this.#kept : undefined;
  }

  /** A new attempt, or the kept one (no second CONNECT). */
  dial(): Promise<ConnectAttempt> {
    const o = this.#o;
    const kept = this.kept;
    if (kept !== undefined) return this.wait(kept);
    const timeoutMs = this.timeoutMs;
    const hooks = { deadline: this.#deadline, rtt: this.#rtt, onConnack: () => void (this.#timeouts = 0) };
    return this.#await(this.#host.open(hooks, Math.max(timeoutMs, o.deadPath.maxMs)), timeoutMs);
  }

  /** Wait for `a` (the kept attempt) once more: for the current timeout, but not past the end of its keeping. */
  wait(a: ConnectAttempt): Promise<ConnectAttempt> {
    return this.#await(a, Math.max(0, Math.min(this.timeoutMs, this.#keptUntil - this.#o.clock.now())));
  }

  /** `a` is in use or gone: it is no longer kept. */
  release(a: ConnectAttempt): void {
    if (this.#kept !== a) return;
    this.#kept = undefined;
    if (this.#keptTimer !== undefined) this.#o.clock.clearTimeout(this.#keptTimer);
    this.#keptTimer = undefined;
  }

  /** The transport closes: a kept attempt ends now. */
  close(err: Error): void {
    const kept = this.#kept;
    if (kept === undefined) return;
    this.release(kept);
    kept.abandon(err);
  }

  /**
   * Wait up to `timeoutMs` for `a`'s CONNACK (then for its SUBACK, which it bounds itself). At the
   * deadline: the dead-path verdict, a TimeoutError; with `deadPath.lateMs` the host's suspect
   * error (a TimeoutError too) while the connection stays open.
   */
  #await(a: ConnectAttempt, timeoutMs: number): Promise<ConnectAttempt> {
    this.#awaited = a;
    return new Promise<ConnectAttempt>((resolve, reject) => {
      let timer: TimerHandle | undefined;
      let over = false;
      const done = (): boolean => {
        if (over) return false; // an earlier wait on the same attempt, settled at its verdict
        over = true;
        if (timer !== undefined) this.#deadline.clearTimeout(timer);
        timer = undefined;
        if (this.#awaited === a) this.#awaited = undefined;
        return true;
      };
      a.done.then(
        () => void (done() && resolve(a)),
        (e: unknown) => {
          if (!done()) return;
          this.#timeouts = 0;
          this.#host.failed();
          this.release(a);
          reject(e as Error);
        },
      );
      timer = this.#deadline.setTimeout(() => {
        timer = undefined;
        if (a.answered || a.settled || !done()) return; // a CONNACK came: the SUBACK has its own bound
        reject(this.#verdict(a, timeoutMs));
      }, timeoutMs);
    });
  }

  /** The dead-path verdict on `a`: the attempt is given up, or kept open for a late CONNACK. */
  #verdict(a: ConnectAttempt, timeoutMs: number): Error {
    const o = this.#o;
    this.#timeouts++;
    this.#host.failed();
    a.verdicts++;
    const what = `no CONNACK from ${o.host}:${o.port} within ${Math.round(timeoutMs)} ms: dead path`;
    const keep = this.#kept === a ? o.clock.now() < this.#keptUntil : o.deadPath.lateMs > 0;
    if (keep && !this.#host.isClosed()) {
      if (this.#kept !== a) this.#keep(a);
      return this.#host.suspect(`${what} (its connection stays open for a late CONNACK)`, timeoutMs);
    }
    this.release(a);
    const err = new TimeoutError(what, timeoutMs);
    a.abandon(err);
    return err;
  }

  /** [13.4] Keep `a` open after its first verdict, for `deadPath.lateMs`. */
  #keep(a: ConnectAttempt): void {
    const o = this.#o;
    this.#kept = a;
    this.#keptUntil = o.clock.now() + o.deadPath.lateMs;
    this.#keptTimer = o.clock.setTimeout(() => {
      this.#keptTimer = undefined;
      if (this.#kept !== a || this.#awaited === a) return; // a retry waits on it: its own deadline decides
      this.release(a);
      a.abandon(new LinkDownError(`no CONNACK from ${o.host}:${o.port} within ${o.deadPath.lateMs} ms of the dead-path verdict: given up`));
      this.#host.lateOver();
    }, o.deadPath.lateMs);
    a.done.then(
      () => {
        if (this.#kept !== a || this.#awaited === a || this.#host.isClosed()) return;
        this.release(a);
        this.#host.lateUp(a); // the late CONNACK (and SUBACK) came while nobody waited
      },
      () => {
        if (this.#kept !== a || this.#awaited === a) return;
        this.release(a);
        this.#host.lateOver();
      },
    );
  }
}
