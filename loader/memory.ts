// Where the firmware's resident memory goes, for its `exit` line and the lab (issue 18 build 5):
// V8's heap, what lives outside it (buffers), the QuickJS wasm memory, and from
// /proc/self/smaps_rollup the anonymous pages (heap, wasm, malloc) against file pages (node's
// code and libraries, shared with every process that maps them). Reads, never throws.

import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';

/**
 * V8 flags the firmware sets on itself before QuickJS's wasm is compiled (they are read at
 * compile time, so no launcher has to pass them): compile each wasm function on its first call
 * instead of all ~490 KB up front, and keep the baseline (Liftoff) code instead of recompiling
 * hot functions with TurboFan in background threads. Both cut the memory peak of a boot and
 * its CPU, most under emulation (docs/LAB.md, "Memory" and "Boot under emulation").
 */
export const FIRMWARE_WASM_FLAGS = ['--wasm-lazy-compilation', '--no-wasm-tier-up'] as const;

/**
 * Node flags for the command line that starts the firmware (`node <flags> box.mjs`; they size
 * things fixed at process start, so the firmware cannot set them on itself): one V8 platform
 * worker thread instead of one per core (each thread keeps its own malloc arena and stacks), and
 * a 1 MiB young generation instead of up to 16 MiB (the box allocates little and often).
 * Measured natively: RSS at `up` 75-95 MB without them, 64-68 MB with them (docs/BOX.md).
 */
export const FIRMWARE_NODE_FLAGS = ['--v8-pool-size=1', '--max-semi-space-size=1'] as const;

export function applyFirmwareFlags(flags: readonly string[] = FIRMWARE_WASM_FLAGS): void {
  for (const f of flags) setFlagsFromString(f);
}

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
