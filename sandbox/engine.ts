// The QuickJS engine: one WebAssembly instance with a hard memory cap, loaded by a composition
// root and passed to the AppSandboxes that share it (no singleton here). Only this file picks a
// quickjs-emscripten build variant: release-sync in production, debug-sync for leak tests.

import { DEBUG_SYNC, newQuickJSWASMModuleFromVariant, newVariant, RELEASE_SYNC, type QuickJSRuntime, type QuickJSWASMModule } from 'quickjs-emscripten';
import { ArgumentError, rejectUnknown } from '../runtime/index.ts';

export interface Engine {
  /** `release`: the production build. `debug`: assertions + leak sanitizer, slow; for tests. */
  readonly variant: 'release' | 'debug';
  /** The raw quickjs-emscripten module, for benchmarks that compare against it. */
  readonly quickjs: QuickJSWASMModule;
  /** The hard cap of the instance's WebAssembly memory, bytes: no guest of any app sharing this
   *  engine can take more from the host process. */
  readonly maxMemoryBytes: number;
  /** True when the instance's memory has grown to (nearly) its cap: allocations are failing. */
  exhausted(): boolean;
  /** A new QuickJS runtime, counted until it is disposed. */
  newRuntime(): QuickJSRuntime;
  /** Runtimes made by newRuntime() that are still alive. */
  liveRuntimes(): number;
  /**
   * Throws when a runtime made here is still alive, or (debug build) the leak sanitizer finds
   * un-freed wasm memory. The debug build also aborts when a runtime is disposed with objects
   * still alive in it, so a leaked handle fails the test that caused it.
   */
  assertNoLeaks(): void;
}

export interface EngineOptions {
  variant?: 'release' | 'debug';
  /** WebAssembly memory cap, bytes; default 64 MiB (1 GiB for the debug build, whose leak
   *  sanitizer needs room). This QuickJS build needs at least 16 MiB. */
  maxMemoryBytes?: number;
}

// No DOM lib in this project: the one WebAssembly API used here, typed by hand.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
const Wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => WasmMemory } }).WebAssembly;

const PAGE = 65536;
/** The release and debug builds both declare a 16 MiB initial memory. */
const MIN_MEMORY = 16 * 1024 * 1024;
export const DEFAULT_ENGINE_MEMORY = 64 * 1024 * 1024;
const DEFAULT_DEBUG_MEMORY = 1024 * 1024 * 1024;

/**
 * Load an engine. Apps that share it share its memory cap, so a box gives its running app one
 * engine and a head-end node one engine per app (or per worker) when apps must not starve
 * each other. QuickJS's own per-runtime limit counts allocations under emscripten (malloc sizes
 * are not available to it), so this cap is what bounds the bytes.
 */
export async function loadEngine(options: EngineOptions = {}): Promise<Engine> {
  rejectUnknown('loadEngine', options, ['variant', 'maxMemoryBytes']);
  const variant = options.variant ?? 'release';
  if (variant !== 'release' && variant !== 'debug') throw new ArgumentError(`loadEngine: variant must be release or debug, got ${String(variant)}`, 'variant');
  const max = options.maxMemoryBytes ?? (variant === 'debug' ? DEFAULT_DEBUG_MEMORY : DEFAULT_ENGINE_MEMORY);
  if (!Number.isInteger(max) || max < MIN_MEMORY || max > 2 ** 31) {
    throw new ArgumentError(`loadEngine: maxMemoryBytes must be an integer in ${MIN_MEMORY}..${2 ** 31} (this QuickJS build starts at 16 MiB)`, 'maxMemoryBytes');
  }
  const pages = Math.ceil(max / PAGE);
  const memory = new Wasm.Memory({ initial: MIN_MEMORY / PAGE, maximum: pages });
  const base = variant === 'release' ? RELEASE_SYNC : DEBUG_SYNC;
  const loaded = await newQuickJSWASMModuleFromVariant(newVariant(base, { wasmMemory: memory as never }));
  const maxMemoryBytes = pages * PAGE;
  // Growth happens in steps, and an allocation fails when it does not fit the rest: "nearly".
  const exhausted = (): boolean => memory.buffer.byteLength >= maxMemoryBytes - maxMemoryBytes / 16;
  const runtimes = new Set<QuickJSRuntime>();
  const liveRuntimes = (): number => [...runtimes].filter((r) => r.alive).length;
  return {
    variant,
    quickjs: loaded,
    maxMemoryBytes,
    exhausted,
    newRuntime: () => {
      for (const r of runtimes) if (!r.alive) runtimes.delete(r);
      const rt = loaded.newRuntime();
      runtimes.add(rt);
      return rt;
    },
    liveRuntimes,
    assertNoLeaks: () => {
      const live = liveRuntimes();
      if (live > 0) throw new Error(`${live} QuickJS runtime(s) still alive`);
      if (variant === 'debug' && loaded.getFFI().QTS_RecoverableLeakCheck() !== 0) throw new Error('the leak sanitizer found un-freed wasm memory');
    },
  };
}
