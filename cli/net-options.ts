// Network flags shared by the head-end and box commands, parsed for commander so a mistake is
// one line naming the flag: --host (a bind address), --interface (a local interface address for
// multicast), --ttl (multicast hops).
import { isIP } from 'node:net';
import { InvalidArgumentError } from 'commander';
import { intOption, UserError } from './user-error.ts';

/** An IP address literal (v4 or v6); host names are refused: a bind or interface address is a number. */
export function ipOption(what: string): (value: string) => string {
  return (value: string): string => {
    const v = value.trim().replace(/^\[(.*)\]$/, '$1');
    if (isIP(v) === 0) throw new InvalidArgumentError(`not an IP address: give ${what}, e.g. 192.168.1.10 or 0.0.0.0`);
    return v;
  };
}

/** Multicast TTL: 0 (this host) to 255; 1 keeps the carousel on the local segment. */
export const ttlOption = intOption(0, 255);

/** A trace sample rate: the share of requests that start a trace, 0..1. */
export function rateOption(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('must be a number in 0..1 (0: tracing off, 0.01: one request in a hundred)');
  return n;
}

/** WEFT_TRACE_RATE when set and valid, else 0 (a bad value is a one-line user error). */
export function envTraceRate(): number {
  const v = process.env.WEFT_TRACE_RATE;
  if (v === undefined || v === '') return 0;
  try {
    return rateOption(v);
  } catch (e) {
    throw new UserError(`WEFT_TRACE_RATE="${v}": ${(e as Error).message}`);
  }
}
