// Validation helpers for public entry points: unknown options are rejected by name.

import { ArgumentError } from './errors.ts';

/** Throw ArgumentError naming every key of `options` that is not in `known`. */
export function rejectUnknown(where: string, options: object | undefined, known: readonly string[]): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object') throw new ArgumentError(`${where}: options must be an object`);
  const bad = Object.keys(options).filter((k) => !known.includes(k));
  if (bad.length > 0) {
    throw new ArgumentError(`${where}: unknown option${bad.length > 1 ? 's' : ''} ${bad.map((b) => `"${b}"`).join(', ')} (known: ${known.join(', ')})`, bad[0]);
  }
}

export function positiveInt(where: string, name: string, v: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > max) {
    throw new ArgumentError(`${where}: ${name} must be an integer in 1..${max}, got ${String(v)}`, name);
  }
  return v;
}

export function nonNegative(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new ArgumentError(`${where}: ${name} must be a finite number >= 0, got ${String(v)}`, name);
  }
  return v;
}
