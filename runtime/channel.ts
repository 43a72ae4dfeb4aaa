// The sans-IO request/reply engine. It is fed envelopes (`receive`) and given a writer; it
// numbers messages, matches replies, enforces deadlines from an injected clock, and on close
// fails every pending request, so nothing hangs. It owns no socket and no timer source.

import type { Address } from './address.ts';
import { type Clock, systemClock } from './clock.ts';
import { Codes } from './codes.ts';
import { DeadlineWheel } from './deadlines.ts';
import { LATE_TIMER_MS } from './late-timer.ts';
import type { Envelope, ErrorBody, Kind } from './envelope.ts';
import { ArgumentError, ChannelClosedError, RemoteError, TimeoutError, WeftError } from './errors.ts';
import { rejectUnknown } from './options.ts';
import type { SendDone } from './transport.ts';

/** What a request handler gets: the envelope, plus the parts most handlers want. */
export type RequestHandler = (env: Envelope) => unknown;
export type MessageHandler = (env: Envelope) => void;

export interface ChannelOptions {
  /** Source address stamped on everything this channel sends. */
  self: Address;
  /** Hands an envelope to a transport. A rejection fails the request that wrote it. Give this or `post`. */
  write?: (env: Envelope) => Promise<void> | void;
  /**
   * The callback form of `write` (Transport.post, Router.post): no promise per message inside the
   * core. A `done` with an error fails the request that posted it. Give this or `write`.
   */
  post?: (env: Envelope, done: SendDone) => void;
  clock?: Clock;
  /** Default request deadline, ms. Default 5000. */
  timeoutMs?: number;
  /** Answers `req`: return (or resolve) the reply body; throw a WeftError to send its code. */
  onRequest?: RequestHandler;
  /** Receives `msg`, `ctl` and `stat`. A `ctl` is acknowledged after this returns without throwing. */
  onMessage?: MessageHandler;
  /** Called with errors the channel swallowed (handler bugs, failed reply writes). */
  onError?: (err: unknown, env?: Envelope) => void;
  /** Most requests waiting at once; more fail with UNAVAILABLE. Default 100000. */
  maxPending?: number;
  /** First message id (uint32). Default random, so a restarted endpoint does not reuse ids. */
  firstId?: number;
  /**
   * The sampling decision for each request this channel starts: a W3C traceparent for a sampled
   * one (sent as `ext.tp`), undefined for the rest (runtime/trace.ts traceSampler). Absent: no
   * request starts a trace. Replies always carry the traceparent of their request back.
   */
  traceparent?: () => string | undefined;
}

/** Stale wheel entries tolerated beyond twice the pending count before the wheel is compacted. */
const WHEEL_SLACK = 1024;
const OPTION_KEYS = ['self', 'write', 'post', 'clock', 'timeoutMs', 'onRequest', 'onMessage', 'onError', 'maxPending', 'firstId', 'traceparent'];

export interface SendOptions {
  op?: string;
  /** Request deadline in ms from now (req, ctl). */
  timeoutMs?: number;
}

interface Posting {
  post: (env: Envelope, done: SendDone) => void;
  request: SendDone;
  answer: SendDone;
}

interface Waiter {
  id: number;
  resolve: (body: unknown) => void;
  reject: (err: Error) => void;
  /** When the deadline wheel fails it (clock ms). */
  due: number;
  /** The verdict was put off once after a late timer. */
  putOff: boolean;
  kind: 'req' | 'ctl';
  op: string | undefined;
  timeoutMs: number;
}

export interface ChannelStats {
  sent: number;
  received: number;
  pending: number;
  /** Replies whose request had already timed out or was unknown. */
  stray: number;
  /** Requests received after their deadline, dropped unanswered. */
  expired: number;
  handlerErrors: number;
}

export class Channel {
  readonly self: Address;
  #write: (env: Envelope) => Promise<void> | void;
  /** With `post`: the writer and one callback for every request and answer posted (no closure per message). */
  #posting: Posting | undefined;
  #clock: Clock;
  #timeoutMs: number;
  #onRequest: RequestHandler | undefined;
  #onMessage: MessageHandler | undefined;
  #onError: (err: unknown, env?: Envelope) => void;
  #maxPending: number;
  #nextId: number;
  #traceparent: (() => string | undefined) | undefined;
  #waiting = new Map<number, Waiter>();
  // [c11] one timer for all pending deadlines, not one per request.
  #wheel: DeadlineWheel;
  #closed = false;
  /** What close() was given: the cause of the errors it and later sends raise. */
  #closedBy: Error | undefined;
  #stats = { sent: 0, received: 0, stray: 0, expired: 0, handlerErrors: 0 };

  constructor(options: ChannelOptions) {
    rejectUnknown('Channel', options, OPTION_KEYS);
    // The firmware's Channels write (a box sends a few requests a minute): the build drops post.
    if (globalThis.WEFT_FIRMWARE !== true && options.post !== undefined) {
      if (typeof options.post !== 'function' || options.write !== undefined) throw new ArgumentError('Channel: post must be a function, given instead of write', 'post');
      const post = options.post;
      this.#posting = {
        post: (env, done) => {
          try {
            post(env, done);
          } catch (e) {
            done(e instanceof Error ? e : new Error(String(e)), env);
          }
        },
        // Only a failure matters to a request: its reply settles it.
        request: (err, env) => {
          const w = err === undefined ? undefined : this.#waiting.get(env.id);
          if (w === undefined) return;
          this.#forget(env.id);
          w.reject(err as Error);
        },
        answer: (err, env) => {
          if (err !== undefined) this.#onError(err, env);
        },
      };
    } else if (typeof options.write !== 'function') throw new ArgumentError('Channel: write must be a function', 'write');
    this.self = options.self;
    this.#write = options.write as (env: Envelope) => Promise<void> | void;
    this.#clock = options.clock ?? systemClock;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#onRequest = options.onRequest;
    this.#onMessage = options.onMessage;
    this.#onError = options.onError ?? (() => {});
    this.#maxPending = options.maxPending ?? 100_000;
    this.#nextId = (options.firstId ?? Math.floor(Math.random() * 0xffff_ffff)) >>> 0;
    this.#traceparent = options.traceparent;
    this.#wheel = new DeadlineWheel(this.#clock, (id, due) => this.#waiting.get(id)?.due === due, (id, now) => this.#expire(this.#waiting.get(id) as Waiter, now));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Requests and controls awaiting their answer (a number, for passes over many channels). */
  get pending(): number {
    return this.#waiting.size;
  }

  stats(): ChannelStats {
    return { ...this.#stats, pending: this.#waiting.size };
  }

  /** Send a request and wait for its reply body. Fails with RemoteError, TimeoutError or ChannelClosedError. */
  request(dst: Address, body?: unknown, options?: SendOptions): Promise<unknown> {
    return this.#expectAnswer('req', dst, body, options);
  }

  /** Send a control message and wait for its end-to-end `ack`. */
  control(dst: Address, op: string, body?: unknown, options: Omit<SendOptions, 'op'> = {}): Promise<void> {
    return this.#expectAnswer('ctl', dst, body, { ...options, op }).then(() => undefined);
  }

  /** Fire and forget (`msg` or `stat`). Resolves when the transport took it. */
  async send(dst: Address, body?: unknown, options: { op?: string; kind?: 'msg' | 'stat' } = {}): Promise<void> {
    rejectUnknown('Channel.send', options, ['op', 'kind']);
    if (this.#closed) throw new ChannelClosedError('channel closed', { cause: this.#closedBy });
    const env = this.#envelope(options.kind ?? 'msg', dst, body, options.op);
    this.#stats.sent++;
    if (globalThis.WEFT_FIRMWARE !== true && this.#posting !== undefined) {
      const post = this.#posting.post;
      return new Promise<void>((resolve, reject) => post(env, (e) => (e === undefined ? resolve() : reject(e))));
    }
    await this.#write(env);
  }

  /** Feed one incoming envelope. Never throws: failures go to onError and to the sender as `err`. */
  receive(env: Envelope): void {
    if (this.#closed) return;
    this.#stats.received++;
    switch (env.kind) {
      case 'rep':
      case 'ack':
        this.#settle(env, (w) => w.resolve(env.body));
        return;
      case 'err':
        this.#settle(env, (w) => w.reject(remoteError(env.body)));
        return;
      case 'req':
        this.#serve(env);
        return;
      case 'msg':
      case 'stat':
      case 'ctl':
        this.#deliver(env);
        return;
    }
  }

  /** Fail every pending request with ChannelClosedError; later sends throw. Idempotent. */
  close(reason?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closedBy = reason;
    this.#wheel.stop();
    // Errors only when someone will see them: an Error captures a stack (~10 us), and every
    // portion stop closes its instance's idle Channels (wave 20's profile: 4.9% of a start+stop).
    if (this.#waiting.size === 0) return;
    const err = new ChannelClosedError('channel closed with the request pending', { cause: reason });
    for (const [id, w] of this.#waiting) {
      this.#waiting.delete(id);
      w.reject(err);
    }
  }

  // `options` undefined (most requests): nothing to check, no object made for it.
  #expectAnswer(kind: 'req' | 'ctl', dst: Address, body: unknown, options: SendOptions | undefined): Promise<unknown> {
    rejectUnknown(kind === 'req' ? 'Channel.request' : 'Channel.control', options, ['op', 'timeoutMs']);
    if (this.#closed) return Promise.reject(new ChannelClosedError('channel closed', { cause: this.#closedBy }));
    if (this.#waiting.size >= this.#maxPending) {
      return Promise.reject(new RemoteError(Codes.UNAVAILABLE, `too many pending requests (${this.#maxPending})`));
    }
    const timeoutMs = options?.timeoutMs ?? this.#timeoutMs;
    const env = this.#envelope(kind, dst, body, options?.op);
    env.deadline = this.#clock.now() + timeoutMs;
    if (this.#traceparent !== undefined) {
      const tp = this.#traceparent();
      if (tp !== undefined) env.ext = { tp };
    }
    return new Promise<unknown>((resolve, reject) => {
      const w: Waiter = { id: env.id, resolve, reject, due: env.deadline as number, putOff: false, kind, op: env.op, timeoutMs };
      this.#waiting.set(env.id, w);
      this.#wheel.add(w.id, w.due);
      if (this.#wheel.size > 2 * this.#waiting.size + WHEEL_SLACK) this.#wheel.compact();
      this.#stats.sent++;
      if (globalThis.WEFT_FIRMWARE !== true && this.#posting !== undefined) return this.#posting.post(env, this.#posting.request);
      let written: Promise<void> | void;
      try {
        written = this.#write(env);
      } catch (e) {
        written = Promise.reject(e);
      }
      if (written instanceof Promise) {
        written.catch((e: unknown) => {
          if (this.#waiting.get(env.id) !== w) return;
          this.#forget(env.id);
          w.reject(e instanceof Error ? e : new Error(String(e)));
        });
      }
    });
  }

  #envelope(kind: Kind, dst: Address, body: unknown, op: string | undefined): Envelope {
    const env: Envelope = { v: 1, kind, id: this.#takeId(), src: this.self, dst };
    if (op !== undefined) env.op = op;
    if (body !== undefined) env.body = body;
    return env;
  }

  #takeId(): number {
    const id = this.#nextId;
    this.#nextId = (this.#nextId + 1) >>> 0;
    return id;
  }

  #settle(env: Envelope, fn: (w: Waiter) => void): void {
    const w = env.corr === undefined ? undefined : this.#waiting.get(env.corr);
    if (w === undefined) {
      this.#stats.stray++;
      return;
    }
    this.#forget(env.corr as number);
    fn(w);
  }

  #forget(id: number): void {
    this.#waiting.delete(id);
    // Nothing pending: the wheel's timer no longer holds the process open (unref'd, or cleared),
    // and the next request re-uses it instead of setting one of its own.
    if (this.#waiting.size === 0) this.#wheel.idle();
  }

  #expire(w: Waiter, now: number): void {
    // [13.4] Fired late: our loop stalled, and timers run before input, so the reply may sit
    // unread, or come as soon as a peer stalled with us runs. Wait once more, as long as the
    // stall (at most the timeout again), then decide (slow is not dead).
    const lateMs = now - w.due;
    if (!w.putOff && lateMs > LATE_TIMER_MS) {
      w.putOff = true;
      w.due = now + Math.min(lateMs, w.timeoutMs);
      this.#wheel.add(w.id, w.due);
      return;
    }
    this.#forget(w.id);
    w.reject(new TimeoutError(`${w.kind} ${w.op ?? ''} got no answer within ${w.timeoutMs} ms`.replace('  ', ' '), w.timeoutMs));
  }

  #serve(req: Envelope): void {
    if (req.deadline !== undefined && req.deadline < this.#clock.now()) {
      this.#stats.expired++;
      return;
    }
    const handler = this.#onRequest;
    if (handler === undefined) {
      this.#answer(req, 'err', { code: Codes.NOT_FOUND, message: `no request handler at this address` });
      return;
    }
    let out: unknown;
    try {
      out = handler(req);
    } catch (e) {
      this.#fail(req, e);
      return;
    }
    if (out instanceof Promise) {
      out.then(
        (body: unknown) => this.#answer(req, 'rep', body),
        (e: unknown) => this.#fail(req, e),
      );
    } else {
      this.#answer(req, 'rep', out);
    }
  }

  #deliver(env: Envelope): void {
    try {
      this.#onMessage?.(env);
    } catch (e) {
      if (env.kind === 'ctl') this.#fail(env, e);
      else this.#handlerError(e, env);
      return;
    }
    if (env.kind === 'ctl') this.#answer(env, 'ack', undefined);
  }

  #fail(req: Envelope, e: unknown): void {
    if (!(e instanceof WeftError)) this.#handlerError(e, req);
    const body: ErrorBody =
      e instanceof WeftError ? { code: e.code, message: e.message, ...(e instanceof RemoteError && e.data !== undefined ? { data: e.data } : {}) } : { code: Codes.INTERNAL, message: 'internal error' }; // data: QUOTA's retryAfterMs, REFUSED's reason (PROTOCOL.md)
    this.#answer(req, 'err', body);
  }

  #handlerError(e: unknown, env: Envelope): void {
    this.#stats.handlerErrors++;
    this.#onError(e, env);
  }

  #answer(to: Envelope, kind: 'rep' | 'err' | 'ack', body: unknown): void {
    if (this.#closed) return;
    const env: Envelope = { v: 1, kind, id: this.#takeId(), corr: to.id, src: this.self, dst: to.src };
    if (to.op !== undefined) env.op = to.op;
    if (body !== undefined) env.body = body;
    // [issue 17] the answer goes back in its request's trace.
    if (to.ext?.tp !== undefined) env.ext = { tp: to.ext.tp };
    this.#stats.sent++;
    if (globalThis.WEFT_FIRMWARE !== true && this.#posting !== undefined) return this.#posting.post(env, this.#posting.answer);
    try {
      const w = this.#write(env);
      if (w instanceof Promise) w.catch((e: unknown) => this.#onError(e, env));
    } catch (e) {
      this.#onError(e, env);
    }
  }
}

function remoteError(body: unknown): RemoteError {
  if (body !== null && typeof body === 'object') {
    const b = body as Partial<ErrorBody>;
    if (typeof b.code === 'number' && typeof b.message === 'string') return new RemoteError(b.code, b.message, b.data);
  }
  return new RemoteError(Codes.INTERNAL, 'malformed error reply');
}
