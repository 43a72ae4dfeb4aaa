// Guest promises the host waits on: a served request's async reply, or an async handler whose
// rejection must not vanish. Checked after every job pump; a reply that never settles is failed
// by a timer on the injected clock (the watchdog outside the engine for async work).

import type { QuickJSHandle } from 'quickjs-emscripten';
import { Codes, type TimerHandle, WeftError } from '../runtime/index.ts';
import type { SandboxError } from './errors.ts';
import type { GuestTarget } from './guest-call.ts';
import { readResult } from './guest-call.ts';
import type { HandleLedger } from './ledger.ts';
import { classify, describeThrown } from './marshal.ts';

export interface Settle {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

interface Watched {
  promise: QuickJSHandle;
  what: string;
  done: Settle | undefined;
  timer: TimerHandle | undefined;
}

export class PromiseWatch {
  #t: GuestTarget;
  #ledger: HandleLedger;
  #where: string;
  #set = new Set<Watched>();

  constructor(target: GuestTarget, ledger: HandleLedger, where: string) {
    this.#t = target;
    this.#ledger = ledger;
    this.#where = where;
  }

  get size(): number {
    return this.#set.size;
  }

  /** Watch `promise` (ownership moves here). `done` settles with its value, if given. */
  add(promise: QuickJSHandle, what: string, done: Settle | undefined): void {
    const app = this.#t.app;
    if (done === undefined && this.#set.size >= app.limits.maxPendingRequests * 4) {
      this.#ledger.release(promise); // a flood of detached async handlers: stop watching the newest
      return;
    }
    const w: Watched = { promise, what, done, timer: undefined };
    if (done !== undefined) {
      const ms = app.limits.replyTimeoutMs;
      w.timer = app.clock.setTimeout(() => {
        if (!this.#set.has(w)) return;
        this.#drop(w);
        done.reject(new WeftError(Codes.TIMEOUT, `${this.#where}: ${what} did not settle within ${ms} ms`));
      }, ms);
    }
    this.#set.add(w);
  }

  /** Settle what settled. A rejection records a fatal fault (an uncaught async exception). */
  check(fault: () => SandboxError | undefined): void {
    const { ctx } = this.#t;
    for (const w of [...this.#set]) {
      if (fault() !== undefined) return;
      const st = ctx.getPromiseState(w.promise);
      if (st.type === 'pending') continue;
      this.#drop(w);
      if (st.type === 'fulfilled') {
        const value = readResult(this.#t, st.value, w.what);
        st.value.dispose();
        const f = fault();
        if (f === undefined) w.done?.resolve(value);
        else w.done?.reject(f);
        continue;
      }
      const run = this.#t.app.runEntry(this.#t.app.limits.deadlineMs, () => describeThrown(ctx, st.error));
      st.error.dispose();
      const thrown = run.value;
      if (thrown.name === 'InternalError' && thrown.message === 'interrupted') {
        this.#t.record('deadline', `${w.what} ran past its ${this.#t.app.limits.deadlineMs} ms deadline`);
      } else {
        this.#t.record(classify(thrown), `${w.what} rejected: ${thrown.text}`);
      }
      w.done?.reject(fault() as SandboxError);
    }
  }

  /** Fail every waiting reply with `err` and drop everything. */
  clear(err: Error): void {
    for (const w of this.#set) {
      if (w.timer !== undefined) this.#t.app.clock.clearTimeout(w.timer);
      w.done?.reject(err);
    }
    this.#set.clear();
  }

  #drop(w: Watched): void {
    this.#set.delete(w);
    if (w.timer !== undefined) this.#t.app.clock.clearTimeout(w.timer);
    this.#ledger.release(w.promise);
  }
}
