// Where the firmware's resident memory goes, for its `exit` line and the lab (issue 18 build 5):
// V8's heap, what lives outside it (buffers), the QuickJS wasm memory, and from
// /proc/self/smaps_rollup the anonymous pages (heap, wasm, malloc) against file pages (node's
// code and libraries, shared with every process that maps them). Reads, never throws.

import { readFileSync } from 'node:fs';

/**
 * Node flags for the command line that starts the firmware (`node <flags> box.mjs`; they size
 * things fixed at process start, so the firmware cannot set them on itself): one V8 platform
 * worker thread instead of one per core (each thread keeps its own malloc arena and stacks), and
 * a 1 MiB young generation instead of up to 16 MiB (the box allocates little and often).
 * Measured natively: RSS at `up` 75-95 MB without them, 64-68 MB with them (docs/BOX.md).
 *
 * And QuickJS's wasm stays on Liftoff, V8's baseline compiler: no dynamic tiering, no tier-up
 * (both flags: `--no-wasm-tier-up` alone leaves dynamic tiering on). TurboFan's recompilation of
 * QuickJS's hot functions (its interpreter loop is one huge function) held up to ~20 MB of
 * compiler zones on the platform worker's malloc arena, returned only when the compile ended:
 * the first-boot spike (RSS at `up` 63-84 MB, now 56-57 MB on every boot; docs/LAB.md). The cost:
 * CPU-heavy guest code runs ~1.5x slower once TurboFan would have warmed it (a boot's guest code
 * runs once or twice and never got there), and no compile CPU is spent, which TCG pays dearly.
 */
export const FIRMWARE_NODE_FLAGS = ['--v8-pool-size=1', '--max-semi-space-size=1', '--no-wasm-dynamic-tiering', '--no-wasm-tier-up'] as const;

export interface MemoryBreakdown {
  /** V8 heap in use / reserved, MB. */
  heapUsed: number;
  heapTotal: number;
  /** Memory of JS objects held outside the V8 heap (buffers, wasm), MB. */
  external: number;
  /** The QuickJS engine's WebAssembly memory, MB. */
  wasm: number;
  /** Resident anonymous / file-backed pages (smaps_rollup), MB; undefined where /proc has no rollup. */
  anon: number | undefined;
  file: number | undefined;
}

const mb = (bytes: number): number => Math.round(bytes / 1e5) / 10;

/** `Anonymous` and `Rss` of a smaps_rollup text, bytes. */
export function rollupBytes(text: string): { rss: number; anon: number } | undefined {
  const rss = /^Rss:\s*(\d{1,12}) kB/m.exec(text);
  const anon = /^Anonymous:\s*(\d{1,12}) kB/m.exec(text);
  return rss === null || anon === null ? undefined : { rss: Number(rss[1]) * 1024, anon: Number(anon[1]) * 1024 };
}

export function memoryBreakdown(wasmBytes: number, readRollup: () => string = () => readFileSync('/proc/self/smaps_rollup', 'utf8')): MemoryBreakdown {
  const m = process.memoryUsage();
  let r: { rss: number; anon: number } | undefined;
  try {
    r = rollupBytes(readRollup());
  } catch {
    r = undefined; // not Linux, or an old kernel: V8's figures are all there is
  }
  return { heapUsed: mb(m.heapUsed), heapTotal: mb(m.heapTotal), external: mb(m.external), wasm: mb(wasmBytes), anon: r === undefined ? undefined : mb(r.anon), file: r === undefined ? undefined : mb(r.rss - r.anon) };
}
