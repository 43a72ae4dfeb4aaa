// The QuickJS engine: loads the WebAssembly module once per composition root (no singleton here).
// Only this file picks a quickjs-emscripten build variant: release-sync in production, debug-sync for leak tests.

import { DEBUG_SYNC, newQuickJSWASMModuleFromVariant, RELEASE_SYNC, TestQuickJSWASMModule, type QuickJSWASMModule } from 'quickjs-emscripten';
import { ArgumentError, rejectUnknown } from '../runtime/index.ts';

export interface Engine {
  /** `release`: the production build. `debug`: assertions + leak sanitizer, slow; for tests. */
  readonly variant: 'release' | 'debug';
  /** The raw quickjs-emscripten module, for benchmarks that compare against it. */
  readonly quickjs: QuickJSWASMModule;
  /**
   * Debug variant only: throws when any runtime or context made through this engine is still
   * alive, or the leak sanitizer finds un-freed wasm memory. A no-op check on release.
   */
  assertNoLeaks(): void;
}

export interface EngineOptions {
  variant?: 'release' | 'debug';
}

/** Load the engine. Call once at start-up and pass the result to every AppSandbox. */
export async function loadEngine(options: EngineOptions = {}): Promise<Engine> {
  rejectUnknown('loadEngine', options, ['variant']);
  const variant = options.variant ?? 'release';
  if (variant === 'release') {
    const quickjs = await newQuickJSWASMModuleFromVariant(RELEASE_SYNC);
    return { variant, quickjs, assertNoLeaks: () => {} };
  }
  if (variant !== 'debug') throw new ArgumentError(`loadEngine: variant must be release or debug, got ${String(variant)}`, 'variant');
  // [sandbox] TestQuickJSWASMModule tracks every runtime and context it made, so a leaked one
  // is reported by name of the count; the debug build adds the leak sanitizer on top.
  const test = new TestQuickJSWASMModule(await newQuickJSWASMModuleFromVariant(DEBUG_SYNC));
  return { variant, quickjs: test as unknown as QuickJSWASMModule, assertNoLeaks: () => test.assertNoMemoryAllocated() };
}
