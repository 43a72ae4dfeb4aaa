// Errors of the box's loader, as WeftError subclasses with wire codes from runtime/codes.ts.
// Expected outcomes (a refused tier, a failed dial) are events and values, not these.

import { Codes, type Envelope, RemoteError, WeftError, type WeftErrorOptions } from '../runtime/index.ts';

/** A module's message cannot go anywhere now: its target runs on the head-end and the two-way
 *  channel is down (degraded mode), or the target is being moved or downloaded for too long. */
export class UnreachableError extends WeftError {
  readonly target: string;
  constructor(target: string, message: string, options?: WeftErrorOptions) {
    super(Codes.UNAVAILABLE, message, options);
    this.target = target;
  }
}

/** Session setup failed: refused by the head-end, timed out, or a download did not verify. */
export class SessionSetupError extends WeftError {
  readonly step: 'open' | 'download' | 'verify' | 'start' | 'client-started';
  constructor(step: SessionSetupError['step'], code: number, message: string, options?: WeftErrorOptions) {
    super(code, `session setup (${step}): ${message}`, options);
    this.step = step;
  }
}

/** The tuner could not deliver the carousel: a group it cannot join, a port in use, a socket
 *  that failed. The message is one line that names the carousel and what to do about it. */
export class TunerError extends WeftError {
  /** The carousel URL. */
  readonly target: string;
  /** The system error code (ENODEV, EADDRINUSE, ...), or 'unknown'. */
  readonly errno: string;
  /** The call that failed (bind, addMembership, ...), when known. */
  readonly syscall: string | undefined;
  constructor(target: string, errno: string, syscall: string | undefined, hint: string, options?: WeftErrorOptions) {
    super(Codes.UNAVAILABLE, `tuner ${target}: ${syscall === undefined ? '' : `${syscall} `}${errno}: ${hint}`, options);
    this.target = target;
    this.errno = errno;
    this.syscall = syscall;
  }
}

/** The answer to a request for a loader operation the box does not have. */
export function notHere(env: Envelope): never {
  throw new RemoteError(Codes.NOT_FOUND, `the box has no operation "${env.op ?? ''}"`);
}
