// The MQTT transport's connect attempts (mqtt.ts): each waits for its CONNACK until a deadline of
// a few RTTs, confirmed over the local loop's lag, then gives the dead-path verdict. With
// deadPath.lateMs the verdict's connection stays open (issue 13.4: a broker behind on its
// CONNECTs is slow, not dead): a CONNACK within lateMs of the first verdict makes the link up on
// it, and a retry meanwhile waits on it again instead of sending a second CONNECT (under the same
// client id, a second CONNECT would also take the first connection over). No sockets here.

import { type Clock, TimeoutError, type TimerHandle, lateOnce } from '../runtime/index.ts';
import type { AttemptHooks, ConnectAttempt } from './mqtt-attempt.ts';
import { BrokerBusyError, LinkDownError } from './mqtt-errors.ts';
import type { ResolvedMqttOptions } from './mqtt-options.ts';
import { type RttEstimator, connectTimeoutMs, reconnectDelay } from './reconnect.ts';

/** [19.6] Busy answers in a row a dial waits out before it fails (a LinkDownError, never a dead path): with the box's backoff 1-2 min. */
export const BUSY_TRIES = 7;

/** What the dial needs of its transport. */
export interface DialHost {
  isClosed(): boolean;
  /** A new attempt (a new connection and CONNECT) with these hooks; its SUBACK may take `subackMs`. */
  open(hooks: Pick<AttemptHooks, 'deadline' | 'rtt' | 'onConnack'>, subackMs: number): ConnectAttempt;
  /** The verdict's error when the connection stays open (SuspectPathError, naming the transport). */
  suspect(message: string, afterMs: number): Error;
  /** Counted: a verdict, or an attempt that failed otherwise. */
  failed(): void;
  /** Counted: a busy broker (BrokerBusyError) waited out; the dial tries again after it. `a` had verdicts: a late busy answer undid them. */
  busy(a: ConnectAttempt): void;
  /** A kept attempt came up while nobody waited on it. */
  lateUp(a: ConnectAttempt): void;
  /** A kept attempt ended without its CONNACK while nobody waited on it; `busy`: answered busy (after `busy(a)`). */
  lateOver(busy?: boolean): void;
}

/** The dial's face to its transport (closures, not a class: the firmware counts every byte, and locals minify). */
export interface MqttDial {
  /** What the next wait for a CONNACK allows before the verdict, ms (doubled per verdict in a row). */
  readonly timeoutMs: number;
  /** The attempt kept open after its verdict for a late CONNACK, while within `deadPath.lateMs` of that verdict. */
  readonly kept: ConnectAttempt | undefined;
  /** A new attempt, or the kept one (no second CONNECT). */
  dial(): Promise<ConnectAttempt>;
  /** Wait for `a` (the kept attempt) once more: for the current timeout, but not past the end of its keeping. */
  wait(a: ConnectAttempt): Promise<ConnectAttempt>;
  /** `a` is in use or gone: it is no longer kept. */
  release(a: ConnectAttempt): void;
  /** The transport closes: a kept attempt ends now. */
  close(err: Error): void;
}

/** The attempt kept open after its verdict (issue 13.4): until when, and its release. */
interface Keeper {
  readonly kept: ConnectAttempt | undefined;
  /** On the clock: when the kept attempt is given up. */
  readonly until: number;
  keep(a: ConnectAttempt): void;
  release(a: ConnectAttempt): void;
}

/** [13.4] Keeps one attempt open after its first verdict for `deadPath.lateMs`; `awaited`: the attempt a caller waits on now (its own deadline decides); `undo`: its verdicts were wrong. */
function keeper(o: ResolvedMqttOptions, host: DialHost, awaited: () => ConnectAttempt | undefined, undo: (a: ConnectAttempt) => void): Keeper {
  const { clock, deadPath } = o;
  let kept: ConnectAttempt | undefined;
  let until = 0;
  let timer: TimerHandle | undefined;
  const release = (a: ConnectAttempt): void => {
    if (kept !== a) return;
    kept = undefined;
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
  };
  const keep = (a: ConnectAttempt): void => {
    kept = a;
    until = clock.now() + deadPath.lateMs;
    const end = (): void => {
      timer = undefined;
      if (kept !== a || awaited() === a) return; // a retry waits on it: its own deadline decides
      release(a);
      a.abandon(new LinkDownError(`no CONNACK ${deadPath.lateMs} ms after the verdict`));
      host.lateOver();
    };
    // [D117] Fired late (our loop stalled, and timers run before input), the keeping lasts once
    // more as long as the stall (at most lateMs): its CONNACK may already sit in the socket. D27's
    // rule, as every other give-up timer has it; `until` moves with it (a retry may wait till then).
    timer = lateOnce(clock, deadPath.lateMs, (t, due) => ((timer = t), (until = due)), end);
    a.done.then(
      () => {
        if (kept !== a || awaited() === a || host.isClosed()) return;
        release(a);
        host.lateUp(a); // the late CONNACK (and SUBACK) came while nobody waited
      },
      (e: unknown) => {
        if (kept !== a || awaited() === a) return;
        release(a);
        // [19] A late busy answer: the path was alive, the verdicts wrong; the next dial's deadline is not doubled by them.
        const busy = e instanceof BrokerBusyError;
        if (busy) undo(a);
        host.lateOver(busy);
      },
    );
  };
  return {
    get kept() {
      return kept;
    },
    get until() {
      return until;
    },
    keep,
    release,
  };
}

/** The dead-path verdict on `a` after `ms`: the attempt is given up (a TimeoutError), or kept open for a late CONNACK (the host's suspect error). */
function verdict(o: ResolvedMqttOptions, host: DialHost, k: Keeper, a: ConnectAttempt, ms: number): Error {
  host.failed();
  a.verdicts++;
  const what = `no CONNACK from ${o.host}:${o.port} within ${Math.round(ms)} ms: dead path`;
  if ((k.kept === a ? o.clock.now() < k.until : o.deadPath.lateMs > 0) && !host.isClosed()) {
    if (k.kept !== a) k.keep(a);
    return host.suspect(`${what} (kept open)`, ms);
  }
  k.release(a);
  const err = new TimeoutError(what, ms);
  a.abandon(err);
  return err;
}

/** `deadline`: the dead-path deadlines' clock, confirmed over the local loop's lag [13.4] (a CONNACK read late is slow, not dead). */
export function mqttDial(o: ResolvedMqttOptions, rtt: RttEstimator, deadline: Clock, host: DialHost): MqttDial {
  const { clock, deadPath } = o;
  let timeouts = 0;
  let awaited: ConnectAttempt | undefined; // the attempt a caller waits on now
  let busy = 0; // busy answers in a row
  let pause: ((err: Error) => void) | undefined; // ends the wait after a busy answer
  const k = keeper(o, host, () => awaited, (a) => ((timeouts = 0), host.busy(a)));
  const release = k.release;
  const timeoutMs = (): number => connectTimeoutMs(rtt, deadPath, timeouts);
  const keptNow = (): ConnectAttempt | undefined => (k.kept !== undefined && clock.now() < k.until ? k.kept : undefined);
  // Wait up to `ms` for `a`'s CONNACK (its SUBACK it bounds itself); at the deadline the verdict: a
  // TimeoutError, or with `deadPath.lateMs` the host's suspect error while the connection stays open.
  const wait = (a: ConnectAttempt, ms: number): Promise<ConnectAttempt> => {
    awaited = a;
    return new Promise<ConnectAttempt>((resolve, reject) => {
      let timer: TimerHandle | undefined;
      let over = false;
      const done = (): boolean => {
        if (over) return false; // an earlier wait on the same attempt, settled at its verdict
        over = true;
        if (timer !== undefined) deadline.clearTimeout(timer);
        if (awaited === a) awaited = undefined;
        return true;
      };
      a.done.then(
        () => void (done() && resolve(a)),
        (e: unknown) => {
          if (!done()) return;
          timeouts = 0;
          release(a);
          // [19.6] A busy broker is alive: wait its backoff plus seeded jitter and dial again (not a verdict, no fallback).
          if (e instanceof BrokerBusyError && busy < BUSY_TRIES && !host.isClosed()) {
            host.busy(a); // a kept attempt's late answer undoes its verdicts
            const t = clock.setTimeout(() => {
              pause = undefined;
              dial().then(resolve, reject);
            }, reconnectDelay(++busy, o.backoff, o.random));
            pause = (err) => (clock.clearTimeout(t), reject(err));
            return;
          }
          busy = 0;
          host.failed();
          reject(e as Error);
        },
      );
      timer = deadline.setTimeout(() => {
        timer = undefined;
        if (a.answered || a.settled || !done()) return; // a CONNACK came: the SUBACK has its own bound
        timeouts++;
        reject(verdict(o, host, k, a, ms));
      }, ms);
    });
  };

  const dial = (): Promise<ConnectAttempt> => {
    const kn = keptNow();
    if (kn !== undefined) return wait(kn, Math.min(timeoutMs(), k.until - clock.now()));
    const ms = timeoutMs();
    return wait(host.open({ deadline, rtt, onConnack: () => void (timeouts = busy = 0) }, Math.max(ms, deadPath.maxMs)), ms);
  };
  return {
    get timeoutMs() {
      return timeoutMs();
    },
    get kept() {
      return keptNow();
    },
    dial,
    wait: (a) => wait(a, Math.max(0, Math.min(timeoutMs(), k.until - clock.now()))),
    release,
    close: (err) => {
      pause?.(err); // a busy wait ends with the transport
      pause = undefined;
      const a = k.kept;
      if (a === undefined) return;
      release(a);
      a.abandon(err);
    },
  };
}
