// One line per user mistake: what went wrong, why, and what to do. Stack traces only with
// --debug (or WEFT_DEBUG=1). Known Node and Weft failures are turned into that line here, so a
// command file throws plain errors and never prints a stack itself.
import { InvalidArgumentError } from 'commander';

/** A mistake the user can fix: printed as one line, exit code 2. */
export class UserError extends Error {
  override readonly name = 'UserError';
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.hint = hint;
  }
}

/** Integer option parser for commander: rejects `abc`, `1.5` and values out of range by name. */
export function intOption(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError(`not a whole number`);
    if (n < min || n > max) throw new InvalidArgumentError(`must be between ${min} and ${max}`);
    return n;
  };
}

/** Number option parser (seconds may be fractional). */
export function numberOption(min: number, max = Number.MAX_VALUE): (value: string) => number {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`not a number`);
    if (n < min || n > max) throw new InvalidArgumentError(`must be between ${min} and ${max}`);
    return n;
  };
}

interface NodeError extends Error {
  code?: string;
  path?: string;
  port?: number;
  address?: string;
  syscall?: string;
}

/** The one line (and an optional hint) for an error that ended a command. */
export function describeError(e: unknown): { line: string; hint?: string; user: boolean } {
  if (e instanceof UserError) return { line: e.message, ...(e.hint === undefined ? {} : { hint: e.hint }), user: true };
  const err = (e instanceof Error ? e : new Error(String(e))) as NodeError;
  switch (err.code) {
    case 'EADDRINUSE':
      return { line: `${where(err)} is already in use by another process`, hint: 'stop that process or choose another port with the flag that sets it (see --help)', user: true };
    case 'EACCES':
      return { line: `permission denied: ${err.syscall ?? 'access'} ${err.path ?? where(err)}`, hint: 'use a port above 1023, or a path you can write', user: true };
    case 'ENOENT':
      return { line: `file not found: ${err.path ?? err.message}`, ...(enoentHint(err.path) === undefined ? {} : { hint: enoentHint(err.path) as string }), user: true };
    case 'ECONNREFUSED':
      return { line: `nothing answers at ${where(err)}`, hint: 'start the head-end first (npx weft headend up) or check --headend / --broker', user: true };
    default:
      break;
  }
  // An ArgumentError is a bad option or flag value: its message says which, written for people.
  if (err.name === 'ArgumentError') return { line: err.message, user: true };
  // Weft's own typed errors (ArgumentError, SignatureError, CarouselError, ...) carry a message
  // written for people; anything else is a bug and says so.
  if (/Error$/.test(err.name) && err.name !== 'Error' && err.name !== 'TypeError' && err.name !== 'RangeError' && err.name !== 'ReferenceError') {
    return { line: `${err.name}: ${err.message}`, user: true };
  }
  return { line: `unexpected ${err.name}: ${err.message}`, hint: 'this is a bug in weft; run again with --debug for the stack and report it', user: false };
}

function where(err: NodeError): string {
  if (err.port !== undefined) return `port ${err.address ?? ''}${err.address === undefined ? '' : ':'}${err.port}`;
  return err.message.replace(/^[a-z]+ E[A-Z]+ /, '');
}

function enoentHint(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  if (path.includes('dist/apps') || path.endsWith('manifest.json') || path.endsWith('manifest.sig')) return 'build and sign the apps first: npm run build';
  if (path.includes('dist/firmware')) return 'build the firmware first: npm run build';
  if (path.includes('.weft')) return 'run npm run build (it creates the dev keys in .weft/) or pass the file explicitly';
  return undefined;
}
