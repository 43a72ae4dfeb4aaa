// The local service interface [c34-c36]: head-end services (programme guide data, VOD
// catalogue and billing) are objects of named methods behind one adapter layer, so a peer
// module calls `weft.services.<service>.<method>(args)` without knowing where the data lives.
// Each method declares its schema (arguments, result, errors); the host validates every
// request against it before the method runs, and docs/SERVICES.md is generated from it.

import { Codes, RemoteError, type CodeName } from '../../runtime/index.ts';

/** Who is calling: set by the host from the portion's identity, never by the guest. */
export interface CallerInfo {
  app: string;
  session: string;
  boxId?: string;
}

/** One argument: a string (1..max characters) or an integer (min..max), optional with a default. */
export type ArgSpec =
  | { type: 'string'; doc: string; max: number; optional?: boolean }
  | { type: 'integer'; doc: string; min: number; max: number; default?: number };

/** The validated arguments a method receives: strings and integers by name. */
export type Args = Record<string, string | number | undefined>;

export interface MethodSpec {
  summary: string;
  args: Readonly<Record<string, ArgSpec>>;
  /** What the reply body is, in words (and shape). */
  returns: string;
  /** Errors the method answers beyond BAD_REQUEST for arguments that fail the schema. */
  errors?: readonly { code: CodeName; when: string }[];
  call: (args: Args, caller: CallerInfo) => unknown;
}

export interface HeadendService {
  readonly name: string;
  /** One paragraph: what the service is for. */
  readonly doc: string;
  readonly methods: Readonly<Record<string, MethodSpec>>;
}

/** Check a request's body against a method's schema: unknown or ill-typed arguments are BAD_REQUEST, named. */
export function checkArgs(spec: MethodSpec, body: unknown): Args {
  if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body) || body instanceof Uint8Array)) {
    throw new RemoteError(Codes.BAD_REQUEST, 'arguments must be an object');
  }
  const raw = (body ?? {}) as Record<string, unknown>;
  const bad = Object.keys(raw).filter((k) => !Object.hasOwn(spec.args, k));
  if (bad.length > 0) throw new RemoteError(Codes.BAD_REQUEST, `unknown argument "${bad[0]}" (known: ${Object.keys(spec.args).join(', ') || 'none'})`);
  const out: Args = {};
  for (const [name, a] of Object.entries(spec.args)) out[name] = checkArg(name, a, raw[name]);
  return out;
}

function checkArg(name: string, a: ArgSpec, v: unknown): string | number | undefined {
  if (a.type === 'string') {
    if (v === undefined && a.optional === true) return undefined;
    if (typeof v !== 'string' || v.length === 0 || v.length > a.max) throw new RemoteError(Codes.BAD_REQUEST, `${name} must be a non-empty string of at most ${a.max} characters`);
    return v;
  }
  const n = v ?? a.default;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < a.min || n > a.max) throw new RemoteError(Codes.BAD_REQUEST, `${name} must be an integer in ${a.min}..${a.max}`);
  return n;
}
