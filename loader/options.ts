// Options of a box: names, defaults, validation (unknown names are refused by name). The
// composition root (loader/main.ts, or the emulator in devices/) builds the adapters it passes.

import {
  ArgumentError,
  type Clock,
  type DeviceProfile,
  checkProfile,
  nonNegative,
  positiveInt,
  rejectUnknown,
  systemClock,
  traceSampler,
} from '../runtime/index.ts';
import type { TrustedKey } from '../runtime/app/index.ts';
import type { Engine, LagHandle, SandboxLimits } from '../sandbox/index.ts';
import { type BackoffPolicy, backoffPolicy } from '../transport/reconnect.ts';
import { type ChannelPolicy, DEFAULT_CHANNEL_POLICY } from './channel-manager.ts';
import { HostCpu } from './cpu.ts';
import { MemoryStorage } from './module-cache.ts';
import type { Cpu, DeviceStorage, Dialer, Tuner } from './ports.ts';

export interface BoxOptions {
  /** The box's identity on the return channel (its MQTT username and client id). */
  boxId: string;
  /** What the box has: app memory (the QuickJS limit), CPU class, storage, return channel. */
  profile: DeviceProfile;
  /** The QuickJS engine (loaded once per process; a fleet shares one), or the promise of it: the
   *  box tunes, waits for the DSI and acquires the boot tier while it loads, and awaits it where
   *  the first module is evaluated (issue 18.6: under emulation the two ran one after the other). */
  engine: Engine | Promise<Engine>;
  /** The carousel tuner (first channel). */
  tuner: Tuner;
  /** Keys whose manifest signatures this box accepts. Nothing else runs. */
  trusted: readonly TrustedKey[];
  /** The return-channel dialer. Absent, or a profile without a return channel: carousel tiers only. */
  dialer?: Dialer;
  /** Device storage for the module cache and weft.storage. Default: in memory, the profile's size. */
  storage?: DeviceStorage;
  /** Where guest code runs (the emulator throttles it). Default: this host's CPU. */
  cpu?: Cpu;
  /** Run only this app id. Default: the app on the tuned carousel. */
  app?: string;
  clock?: Clock;
  /** Jitter source. Default Math.random. */
  random?: () => number;
  /** Connect attempts per round, backoff, RTT estimate. Default: DEFAULT_CHANNEL_POLICY, RTT from the profile. */
  channel?: { attemptsPerRound?: number; round?: Partial<BackoffPolicy>; background?: Partial<BackoffPolicy>; rttMs?: number };
  /** Deadline of the loader's own requests (session.open, module.get), ms. Default 5000. */
  requestTimeoutMs?: number;
  /** How long a dropped link may stay down before the server portion is given up, ms. Default 30000. */
  sessionGraceMs?: number;
  /** Overrides of the sandbox limits derived from the profile. */
  limits?: Partial<SandboxLimits>;
  /** Resource reports this often, ms, instead of the interval the head-end's session reply names (emulated fleets at scale). */
  reportEveryMs?: number;
  /** Explicit rollout groups this box belongs to (a rollout directive may name them). Default none. */
  groups?: string[];
  /** How long a new version's boot modules have to report ready before it reverts, ms (probation.ts). Default 30000. */
  readyMs?: number;
  onEvent?: (e: import('./box-events.ts').BoxEvent) => void;
  /** Share of the modules' requests that start a W3C trace (0..1). Default 0: tracing off, nothing added to the wire. */
  traceRate?: number;
  /** A lag source for each app the box runs (started and stopped with it). Default: a LagMeter of
   *  the app's own on `clock`. The emulator passes holds on one meter per fleet process (D97). */
  lag?: () => LagHandle;
}

export interface ResolvedBoxOptions {
  boxId: string;
  profile: DeviceProfile;
  engine: Engine | Promise<Engine>;
  tuner: Tuner;
  trusted: readonly TrustedKey[];
  dialer: Dialer | undefined;
  storage: DeviceStorage;
  cpu: Cpu;
  app: string | undefined;
  clock: Clock;
  random: () => number;
  channel: ChannelPolicy;
  requestTimeoutMs: number;
  sessionGraceMs: number;
  limits: Partial<SandboxLimits>;
  reportEveryMs: number | undefined;
  groups: readonly string[];
  readyMs: number;
  onEvent: (e: import('./box-events.ts').BoxEvent) => void;
  /** The sampling decision per module request; undefined when tracing is off. */
  traceparent: (() => string | undefined) | undefined;
  lag: (() => LagHandle) | undefined;
}

/**
 * WebAssembly memory to give a box's QuickJS engine: the profile's app memory plus the engine's
 * own (about 7 MiB), never below the 16 MiB this QuickJS build starts with. The engine's cap is
 * the hard bound; the loader also stops a module whose entry takes the app past the profile's
 * app memory (QuickJS's own limit counts allocations, not bytes, under emscripten).
 */
export function engineMemoryFor(profile: DeviceProfile): number {
  const MiB = 1024 * 1024;
  return Math.min(2 ** 31, Math.max(16 * MiB, Math.ceil((profile.appMemoryBytes + 8 * MiB) / (64 * 1024)) * 64 * 1024));
}

const KEYS = [
  'boxId', 'profile', 'engine', 'tuner', 'trusted', 'dialer', 'storage', 'cpu', 'app', 'clock', 'random', 'channel',
  'requestTimeoutMs', 'sessionGraceMs', 'limits', 'reportEveryMs', 'groups', 'readyMs', 'onEvent', 'traceRate', 'lag',
];
const ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const W = 'Box';
const KB = 1024;

export function resolveBoxOptions(o: BoxOptions): ResolvedBoxOptions {
  if (o === null || typeof o !== 'object') throw new ArgumentError(`${W}: options are required`);
  rejectUnknown(W, o, KEYS);
  if (typeof o.boxId !== 'string' || !ID.test(o.boxId)) throw new ArgumentError(`${W}: boxId must match ${ID.source}`, 'boxId');
  const profile = checkProfile(o.profile);
  if (o.engine === undefined || o.tuner === undefined) throw new ArgumentError(`${W}: engine and tuner are required`, o.engine === undefined ? 'engine' : 'tuner');
  if (!Array.isArray(o.trusted) || o.trusted.length === 0) throw new ArgumentError(`${W}: trusted must list at least one key (the box runs only signed apps)`, 'trusted');
  const c = o.channel ?? {};
  rejectUnknown(`${W}.channel`, c, ['attemptsPerRound', 'round', 'background', 'rttMs']);
  // The profile's return path sets the first RTT estimate: a dead path shows within 3 RTT + 50 ms.
  const profileRtt = profile.channels.latencyMs > 0 ? 2 * profile.channels.latencyMs : DEFAULT_CHANNEL_POLICY.rttMs;
  const channel: ChannelPolicy = {
    attemptsPerRound: positiveInt(W, 'channel.attemptsPerRound', c.attemptsPerRound ?? DEFAULT_CHANNEL_POLICY.attemptsPerRound, 100),
    round: backoffPolicy(`${W}.channel.round`, { ...DEFAULT_CHANNEL_POLICY.round, ...c.round }),
    background: backoffPolicy(`${W}.channel.background`, { ...DEFAULT_CHANNEL_POLICY.background, ...c.background }),
    rttMs: nonNegative(W, 'channel.rttMs', c.rttMs ?? profileRtt),
  };
  const storage = o.storage ?? new MemoryStorage(profile.storageBytes);
  let traceparent: (() => string | undefined) | undefined;
  try {
    traceparent = traceSampler(o.traceRate ?? 0, o.random ?? Math.random);
  } catch (e) {
    throw new ArgumentError(`${W}: ${(e as Error).message}`, 'traceRate');
  }
  const groups = o.groups ?? [];
  if (!Array.isArray(groups) || groups.length > 16 || groups.some((g) => typeof g !== 'string' || !/^[a-z0-9][a-z0-9-]{0,31}$/.test(g))) throw new ArgumentError(`${W}: groups must be at most 16 short names`, 'groups');
  return {
    boxId: o.boxId,
    profile,
    engine: o.engine,
    tuner: o.tuner,
    trusted: o.trusted,
    dialer: profile.channels.twoWay ? o.dialer : undefined,
    storage,
    cpu: o.cpu ?? new HostCpu(),
    app: o.app,
    clock: o.clock ?? systemClock,
    random: o.random ?? Math.random,
    channel,
    requestTimeoutMs: positiveInt(W, 'requestTimeoutMs', o.requestTimeoutMs ?? 5000),
    sessionGraceMs: positiveInt(W, 'sessionGraceMs', o.sessionGraceMs ?? 30_000),
    limits: {
      memoryBytes: profile.appMemoryBytes,
      // weft.storage: a slice of the device's storage; a box without storage keeps a little in RAM.
      storageQuota: storage.capacity > 0 ? Math.max(16 * KB, Math.min(1024 * KB, Math.floor(storage.capacity / 16))) : 16 * KB,
      ...o.limits,
    },
    reportEveryMs: o.reportEveryMs === undefined ? undefined : positiveInt(W, 'reportEveryMs', o.reportEveryMs),
    groups: [...groups],
    readyMs: positiveInt(W, 'readyMs', o.readyMs ?? 30_000),
    onEvent: o.onEvent ?? (() => {}),
    traceparent,
    lag: o.lag,
  };
}
