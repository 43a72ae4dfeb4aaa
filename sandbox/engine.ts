// The QuickJS engine: one WebAssembly instance with a hard memory cap, loaded by a composition
// root and passed to the AppSandboxes that share it (no singleton here). Only this file picks a
// quickjs-emscripten build variant: release-sync in production, debug-sync for leak tests.
// WebAssembly memory never shrinks: renew() swaps in a fresh instance so the old one's pages go.

import { DEBUG_SYNC, newQuickJSWASMModuleFromVariant, newVariant, RELEASE_SYNC, type QuickJSRuntime, type QuickJSWASMModule } from 'quickjs-emscripten';
import { ArgumentError, rejectUnknown } from '../runtime/index.ts';
import { SandboxError } from './errors.ts';

export interface Engine {
  /** `release`: the production build. `debug`: assertions + leak sanitizer, slow; for tests. */
  readonly variant: 'release' | 'debug';
  /** The raw quickjs-emscripten module (the current instance), for benchmarks. */
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
  /** Bytes of WebAssembly memory the current instance holds (the engine's own accounting;
   *  it only grows until renew()). */
  memoryBytes(): number;
  /** Why the instance is unusable (QuickJS aborted: every call into it would throw), if it is. */
  readonly broken: string | undefined;
  /** Mark the instance unusable after a QuickJS abort; newRuntime() refuses until renew(). */
  fail(reason: string): void;
  /**
   * Replace the WebAssembly instance with a fresh one (16 MiB): the old instance's memory goes
   * back to the host once it is collected. Only when no runtime made here is alive, or the
   * instance is broken (its runtimes are lost with it). Counted in `renewals`.
   */
  renew(): Promise<void>;
  /** Instances swapped in by renew() so far. */
  readonly renewals: number;
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
  /** QuickJS's wasm, compiled already or being compiled (`WebAssembly.compile` of
   *  emscripten-module.wasm): the firmware begins it before it reads its arguments (issue 18.6),
   *  and renew() instantiates it again. Resolving to undefined (a compile that failed), or
   *  absent: the variant reads and compiles its own, as before (its failure is the load's).
   *  Never handed to the variant unresolved: a module that is not there would reject inside
   *  emscripten's instantiateWasm, which nobody awaits (an unhandled rejection). */
  wasmModule?: Promise<unknown>;
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

/** An engine's cap when none is given: 64 MiB, 1 GiB for the debug build (its leak sanitizer needs room). */
export const defaultEngineMemory = (variant: EngineOptions['variant']): number => (variant === 'debug' ? DEFAULT_DEBUG_MEMORY : DEFAULT_ENGINE_MEMORY);

/**
 * Load an engine. Apps that share it share its memory cap, so a box gives its running app one
 * engine and a head-end node one engine per app (or per worker) when apps must not starve
 * each other. QuickJS's own per-runtime limit counts allocations under emscripten (malloc sizes
 * are not available to it), so this cap is what bounds the bytes.
 */
export async function loadEngine(options: EngineOptions = {}): Promise<Engine> {
  rejectUnknown('loadEngine', options, ['variant', 'maxMemoryBytes', 'wasmModule']);
  const variant = options.variant ?? 'release';
  if (variant !== 'release' && variant !== 'debug') throw new ArgumentError(`loadEngine: variant must be release or debug, got ${String(variant)}`, 'variant');
  const max = options.maxMemoryBytes ?? defaultEngineMemory(variant);
  if (!Number.isInteger(max) || max < MIN_MEMORY || max > 2 ** 31) {
    throw new ArgumentError(`loadEngine: maxMemoryBytes must be an integer in ${MIN_MEMORY}..${2 ** 31} (16 MiB to 2 GiB)`, 'maxMemoryBytes');
  }
  const pages = Math.ceil(max / PAGE);
  const base = variant === 'release' ? RELEASE_SYNC : DEBUG_SYNC;
  const instantiate = async (): Promise<{ loaded: QuickJSWASMModule; memory: WasmMemory }> => {
    const memory = new Wasm.Memory({ initial: MIN_MEMORY / PAGE, maximum: pages });
    return { memory, loaded: await newQuickJSWASMModuleFromVariant(newVariant(base, { wasmMemory: memory as never, wasmModule: (await options.wasmModule) as never })) };
  };
  let { loaded, memory } = await instantiate();
  const maxMemoryBytes = pages * PAGE;
  // Growth happens in steps, and an allocation fails when it does not fit the rest: "nearly".
  const exhausted = (): boolean => memory.buffer.byteLength >= maxMemoryBytes - maxMemoryBytes / 16;
  let runtimes = new Set<QuickJSRuntime>();
  let sweepAt = 64;
  let broken: string | undefined;
  let renewals = 0;
  const liveRuntimes = (): number => [...runtimes].filter((r) => r.alive).length;
  return {
    variant,
    get quickjs() {
      return loaded;
    },
    maxMemoryBytes,
    exhausted,
    newRuntime: () => {
      if (broken !== undefined) throw new SandboxError('engine', 'engine', `the QuickJS instance failed (${broken}); it must be renewed first`);
      // Dead ones are swept when the set doubles, not per call: O(1) amortized (issue 19).
      if (runtimes.size >= sweepAt) {
        for (const r of runtimes) if (!r.alive) runtimes.delete(r);
        sweepAt = 2 * runtimes.size + 64;
      }
      const rt = loaded.newRuntime();
      runtimes.add(rt);
      return rt;
    },
    liveRuntimes: () => (broken === undefined ? liveRuntimes() : 0),
    memoryBytes: () => memory.buffer.byteLength,
    get broken() {
      return broken;
    },
    fail: (reason) => {
      broken ??= reason.slice(0, 200);
    },
    renew: async () => {
      const refuse = (): SandboxError => new SandboxError('state', 'engine', `renew() with ${liveRuntimes()} runtime(s) still alive`);
      if (broken === undefined && liveRuntimes() > 0) throw refuse();
      const fresh = await instantiate();
      // A runtime made on the old instance while the new one loaded keeps it.
      if (broken === undefined && liveRuntimes() > 0) throw refuse();
      ({ loaded, memory } = fresh);
      runtimes = new Set();
      broken = undefined;
      renewals++;
    },
    get renewals() {
      return renewals;
    },
    assertNoLeaks: () => {
      const live = liveRuntimes();
      if (live > 0) throw new Error(`${live} QuickJS runtime(s) still alive`);
      if (variant === 'debug' && loaded.getFFI().QTS_RecoverableLeakCheck() !== 0) throw new Error('the leak sanitizer found un-freed wasm memory');
    },
  };
}
