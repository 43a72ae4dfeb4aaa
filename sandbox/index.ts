// sandbox/: the QuickJS host for app modules. The only folder that imports quickjs-emscripten;
// imports runtime/ only. Public exports by name; types apart.

export { loadEngine, DEFAULT_ENGINE_MEMORY } from './engine.ts';
export type { Engine, EngineOptions } from './engine.ts';
export { AppSandbox } from './app.ts';
export type { AppSandboxOptions, LoadOptions } from './app.ts';
export { ModuleSandbox } from './module.ts';
export { EVENT_KINDS } from './module-host.ts';
export type { ModuleState, ModuleStats } from './module.ts';
export { SandboxError, FATAL_FAULTS, REFUSALS, isEngineTrap } from './errors.ts';
export type { SandboxFault } from './errors.ts';
export { DEFAULT_LIMITS } from './limits.ts';
export type { SandboxLimits } from './limits.ts';
export { AppStorage, MemoryStore } from './storage.ts';
export type { KeyValueStore } from './storage.ts';
export { channelHandlers } from './link.ts';
export type { MessageLink, ServiceHandler, EnvelopeSink } from './link.ts';
export { AppEngines } from './engines.ts';
export type { AppEnginesOptions, AppEnginesStats } from './engines.ts';
export { LagMeter } from './lag.ts';
export type { LagHandle, LagSource, LagMeterOptions } from './lag.ts';
export { namesTypedArrays, WarmRuntime } from './warm.ts';
export { WarmPool } from './warm-pool.ts';
export type { WarmPoolOptions, WarmPoolStats } from './warm-pool.ts';
