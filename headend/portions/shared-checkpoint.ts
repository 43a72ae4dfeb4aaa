// The checkpoint of an app-wide instance (issue 16): its port (the registry's checkpoint records
// when the lead connects them, memory in tests) and its bytes: module snapshots, the app's
// head-end storage (`_storage`) and the duplicate window. Codec and port only; no I/O here.

import { fromBase64, toBase64, utf8, fromUtf8 } from '../../runtime/app/index.ts';
import type { Clock } from '../../runtime/index.ts';
import type { DedupRecord } from './shared-dedup.ts';

/** Where app-wide checkpoints go (the registry's checkpoint records when merged; memory in tests). */
export interface SharedCheckpoints {
  save(instanceId: string, bytes: Uint8Array): Promise<void>;
  load(instanceId: string): Promise<Uint8Array | undefined>;
}

export class MemoryCheckpoints implements SharedCheckpoints {
  readonly saved = new Map<string, Uint8Array>();
  save(id: string, bytes: Uint8Array): Promise<void> {
    this.saved.set(id, bytes);
    return Promise.resolve();
  }
  load(id: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.saved.get(id));
  }
}

export interface Checkpoint {
  states: Record<string, Uint8Array>;
  window: DedupRecord[];
}

/** Checkpoint bytes: UTF-8 JSON `{v:1, app, states: {module: base64}, window}`. */
export function encodeCheckpoint(app: string, states: Record<string, Uint8Array>, window: DedupRecord[]): Uint8Array {
  const s: Record<string, string> = {};
  for (const [k, v] of Object.entries(states)) s[k] = toBase64(v);
  return utf8(JSON.stringify({ v: 1, app, states: s, window }));
}

export function decodeCheckpoint(bytes: Uint8Array): Checkpoint | undefined {
  try {
    const o = JSON.parse(fromUtf8(bytes) ?? '') as { v?: unknown; states?: Record<string, unknown>; window?: unknown };
    if (o.v !== 1 || o.states === undefined || !Array.isArray(o.window)) return undefined;
    const states: Record<string, Uint8Array> = {};
    for (const [k, v] of Object.entries(o.states)) {
      const b = typeof v === 'string' ? fromBase64(v) : undefined;
      if (b !== undefined) states[k] = b;
    }
    return { states, window: o.window as DedupRecord[] };
  } catch {
    return undefined;
  }
}

/** `p`, or a rejection after `ms` on `clock`: a snapshot whose worker went away never answers. */
export function bounded(clock: Clock, p: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new Error(`no checkpoint within ${ms} ms`)), ms);
    p.then(
      () => (clock.clearTimeout(timer), resolve()),
      (e: unknown) => (clock.clearTimeout(timer), reject(e as Error)),
    );
  });
}
