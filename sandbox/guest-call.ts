// Entering guest code: call a guest function under the entry deadline, judge how it ended
// (deadline, watchdog, memory, stack, exception), read a result as data. Holds no state.

import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten';
import type { AppCore, EntryRun } from './app-core.ts';
import type { SandboxFault } from './errors.ts';
import { classify, describeThrown, readData, type Thrown, toGuest } from './marshal.ts';

/** Records a fatal fault on the module (the first one wins). */
export type Recorder = (fault: SandboxFault, detail: string) => void;

export interface GuestTarget {
  readonly app: AppCore;
  readonly ctx: QuickJSContext;
  /** The context's own JSON.parse, taken before module code ran. */
  readonly parse: QuickJSHandle;
  readonly record: Recorder;
  /** True once the module is destroyed or has a fatal fault recorded. */
  stopping(): boolean;
}

/**
 * Call `fn(...args)` (host values, converted) with the deadline armed. Returns the result handle
 * (the caller owns it), or undefined when the call threw; the cause is recorded.
 */
export function callGuest(t: GuestTarget, fn: QuickJSHandle, args: readonly unknown[], deadlineMs: number, what: string): QuickJSHandle | undefined {
  let handles: QuickJSHandle[];
  try {
    handles = args.map((a) => toGuest(t.ctx, t.parse, a));
  } catch (e) {
    t.record('memory', `${what}: arguments did not fit: ${(e as Error).message}`);
    return undefined;
  }
  let thrown: Thrown | undefined;
  const run = t.app.runEntry(deadlineMs, () => {
    const r = t.ctx.callFunction(fn, t.ctx.undefined, ...handles);
    if (!r.error) return r.value;
    // Described while the deadline is still armed: dumping may run guest getters.
    thrown = describeThrown(t.ctx, r.error);
    r.error.dispose();
    return undefined;
  }, t.stopping);
  for (const h of handles) h.dispose();
  judge(t, what, deadlineMs, run, thrown);
  return run.value;
}

/** Evaluate module text as an ES module; returns its namespace (or a promise of it). */
export function evalModule(t: GuestTarget, source: string, file: string, deadlineMs: number): QuickJSHandle | undefined {
  let thrown: Thrown | undefined;
  const run = t.app.runEntry(deadlineMs, () => {
    const r = t.ctx.evalCode(source, file, { type: 'module', strict: true });
    if (!r.error) return r.value;
    thrown = describeThrown(t.ctx, r.error);
    r.error.dispose();
    return undefined;
  });
  if (thrown !== undefined && !run.interrupted && (thrown.name === 'SyntaxError' || /could not load module/.test(thrown.message))) {
    t.record('invalid-module', thrown.text);
  }
  judge(t, 'module evaluation', deadlineMs, run, thrown);
  return run.value;
}

/** Decide which fault, if any, an entry stands for. An entry that outlived its deadline plus
 *  grace is the watchdog's: the engine could not interrupt it in time (a long native or host
 *  call). A limit the guest hit (memory, stack, size) is named even then. */
export function judge(t: GuestTarget, what: string, deadlineMs: number, run: EntryRun<unknown>, thrown: Thrown | undefined): void {
  const grace = t.app.limits.watchdogGraceMs;
  const lag = run.lagMs > 0 ? ` + ${Math.round(run.lagMs)} ms measured lag` : '';
  // A starved process held nothing: its guest got too little CPU to finish sooner (starve.ts).
  const held = run.elapsed > deadlineMs + grace + run.lagMs && run.starved !== true ? `held the host for ${Math.round(run.elapsed)} ms (deadline ${deadlineMs} ms + ${grace} ms grace${lag})` : undefined;
  const fault = thrown === undefined ? undefined : run.interrupted ? 'deadline' : thrown.undescribable && t.app.exhausted() ? 'memory' : classify(thrown);
  if (held !== undefined && (fault === undefined || fault === 'deadline' || fault === 'exception')) {
    t.record('watchdog', `${what} ${held}`);
  } else if (fault === 'deadline') {
    t.record('deadline', run.sliced ? `${what} used up its event's ${t.app.limits.sliceMs} ms CPU slice` : `${what} ran past its ${deadlineMs} ms deadline`);
  } else if (fault !== undefined && thrown !== undefined) {
    t.record(fault, `${what}: ${thrown.text}${held === undefined ? '' : ` (and ${held})`}`);
  }
}

/** Read a returned guest value as JSON data, under a deadline (toJSON may run guest code). */
export function readResult(t: GuestTarget, h: QuickJSHandle, what: string): unknown {
  const run = t.app.runEntry(t.app.limits.deadlineMs, () => {
    try {
      return readData(t.ctx, h, `${what} result`).value;
    } catch (e) {
      t.record('exception', `${what}: ${(e as Error).message}`);
      return undefined;
    }
  });
  if (run.interrupted) t.record('deadline', `${what}: reading the result ran past the deadline`);
  return run.value;
}

/** The state of a guest value that may be a promise; disposes any handle it had to make. */
export function promiseState(ctx: QuickJSContext, h: QuickJSHandle): 'value' | 'pending' | 'settled' {
  const st = ctx.getPromiseState(h);
  if (st.type === 'fulfilled' && st.notAPromise) return 'value';
  if (st.type === 'fulfilled') st.value.dispose();
  if (st.type === 'rejected') st.error.dispose();
  return st.type === 'pending' ? 'pending' : 'settled';
}
