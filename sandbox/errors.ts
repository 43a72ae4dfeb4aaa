// SandboxError: guest code failed, was stopped, or a call was refused. `fault` names the cause;
// `fatal` says whether the module was stopped for it. Wire code SANDBOX; never carries a stack.

import { Codes, WeftError, type WeftErrorOptions } from '../runtime/index.ts';

/** Causes that stop a module (it is destroyed and its error kept). */
export const FATAL_FAULTS = [
  'deadline', // ran past the per-event deadline; the engine interrupted it
  'watchdog', // a single entry overran the hard limit although the interrupt should have fired (long native or host call)
  'memory', // the app runtime's memory limit was hit
  'stack', // the stack-size limit was hit (deep recursion)
  'too-large', // a value handed to the host, or a string, is over its limit
  'host-call-budget', // too many host calls in one event
  'storm', // more promise jobs in one event than the limit (a microtask storm): the app runtime is stopped
  'engine', // the QuickJS instance itself failed (an internal assertion); it is rebuilt, its runtimes are lost
  'exception', // the guest threw (an Error or any other value) and did not catch it
  'invalid-module', // the module text does not evaluate (syntax, imports, top-level await left pending)
] as const;

/** Refusals that leave the module running. */
export const REFUSALS = [
  'state', // the call does not fit the lifecycle state (e.g. deliver to a destroyed module)
  'no-handler', // the module registered no handler for that event, or exports no snapshot()/restore()
  'queue-full', // too many events queued while loaded or paused
  'capability', // the module may not run here, or may not use that capability
] as const;

export type SandboxFault = (typeof FATAL_FAULTS)[number] | (typeof REFUSALS)[number];

export class SandboxError extends WeftError {
  readonly fault: SandboxFault;
  readonly fatal: boolean;
  /** `app/module` (or just the app) the error is about. */
  readonly where: string;
  readonly detail: string;
  constructor(fault: SandboxFault, where: string, detail: string, options?: WeftErrorOptions) {
    const fatal = (FATAL_FAULTS as readonly string[]).includes(fault);
    super(Codes.SANDBOX, `${where}${fatal ? ' stopped' : ''}: ${fault}: ${detail}`, options);
    this.fault = fault;
    this.fatal = fatal;
    this.where = where;
    this.detail = detail;
  }
}

/** Did a call into QuickJS fail in the engine itself (a WebAssembly trap, or an emscripten abort
 *  on a QuickJS assertion), not in guest code? Its instance is unusable from then on. */
export function isEngineTrap(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  return e.name === 'RuntimeError' || e.message.startsWith('Aborted(');
}
