// The local service interface [c34-c36]: head-end services (programme guide data, VOD
// catalogue and billing) are objects of named methods behind one adapter layer, so a peer
// module calls `weft.services.<service>.<method>(args)` without knowing where the data lives.

import { Codes, RemoteError } from '../../runtime/index.ts';

export type ServiceMethod = (args: Record<string, unknown>, caller: CallerInfo) => unknown;

/** Who is calling: set by the host from the portion's identity, never by the guest. */
export interface CallerInfo {
  app: string;
  session: string;
  boxId?: string;
}

export interface HeadendService {
  readonly name: string;
  readonly methods: Readonly<Record<string, ServiceMethod>>;
  /** One line per method for `weft services` and the docs. */
  readonly describe: Readonly<Record<string, string>>;
}

/** Argument checks that answer BAD_REQUEST naming the field. */
export function str(args: Record<string, unknown>, key: string, opt?: { optional?: boolean; max?: number }): string | undefined {
  const v = args[key];
  if (v === undefined && opt?.optional === true) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > (opt?.max ?? 200)) {
    throw new RemoteError(Codes.BAD_REQUEST, `${key} must be a non-empty string of at most ${opt?.max ?? 200} characters`);
  }
  return v;
}

export function int(args: Record<string, unknown>, key: string, dflt: number, min: number, max: number): number {
  const v = args[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RemoteError(Codes.BAD_REQUEST, `${key} must be an integer in ${min}..${max}`);
  }
  return v;
}

export function onlyKeys(args: unknown, known: readonly string[]): Record<string, unknown> {
  if (args === undefined || args === null) return {};
  if (typeof args !== 'object' || Array.isArray(args)) throw new RemoteError(Codes.BAD_REQUEST, 'arguments must be an object');
  const bad = Object.keys(args).filter((k) => !known.includes(k));
  if (bad.length > 0) throw new RemoteError(Codes.BAD_REQUEST, `unknown argument "${bad[0]}"`);
  return args as Record<string, unknown>;
}
