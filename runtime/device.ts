// Device profiles and resource reports: what a box model has (memory, CPU class, storage,
// channels) and what a running box reports [c5, c41]. Data types and checks only.

import { ArgumentError } from './errors.ts';

export const CPU_CLASSES = ['low', 'mid', 'high'] as const;
export type CpuClass = (typeof CPU_CLASSES)[number];

export interface ChannelConditions {
  /** Whether the box has a two-way (return) channel at all. */
  twoWay: boolean;
  /** Added one-way latency on the return channel, ms. */
  latencyMs: number;
  /** Packet/message loss on the return channel, 0..1. */
  loss: number;
  /** Carousel (one-way) bitrate the box tunes, bit/s. */
  carouselBitrate: number;
}

export interface DeviceProfile {
  /** Profile id, e.g. `legacy-sd`. */
  id: string;
  description: string;
  /** Memory for apps (the QuickJS runtime's limit), bytes. */
  appMemoryBytes: number;
  cpuClass: CpuClass;
  /** Relative CPU speed (1 = a modern core); the emulator throttles by it. */
  cpuFactor: number;
  /** Device storage for cached modules, bytes (0: none, cold boot every time). */
  storageBytes: number;
  channels: ChannelConditions;
  /** The box's hardware, for harnesses that run the firmware on it (devices/lab/); the loader ignores it. */
  hardware?: DeviceHardware;
}

/** What a box model is built from: a lab derives a VM's `-m`, `-cpu`, `-smp` and a cgroup limit from it. */
export interface DeviceHardware {
  /** The whole device's RAM (kernel, middleware and the Weft firmware share it), bytes. */
  ramBytes: number;
  /** The CPU core, as QEMU names it (`cortex-a53`, `cortex-a72` ...). */
  cpu: string;
  cores: number;
}

/** What a box reports to the head-end, periodically and at session setup [c5]. */
export interface ResourceReport {
  boxId: string;
  profile: string;
  freeMemoryBytes: number;
  appMemoryBytes: number;
  cpuClass: CpuClass;
  /** Recent CPU load, 0..1. */
  cpuLoad: number;
  storageFreeBytes: number;
  /** Bytes the app's sandbox uses now. */
  sandboxBytes: number;
  /** Whether the return channel is up right now. */
  twoWayUp: boolean;
  at: number;
  /** What became of the requests the box sent the head-end since it started [issue 13.8]. */
  requests?: RequestOutcomes;
  /** Probation outcomes of app versions (issue 15): `{app, version, outcome, reason?, at}`, at most 8. */
  rollout?: { app: string; version: string; outcome: 'probation' | 'committed' | 'reverted'; reason?: string; at: number }[];
}

/** Cumulative request fates: each request sent ends in exactly one of ok, retried or failed. */
export interface RequestOutcomes {
  sent: number;
  /** Answered on the first try. */
  ok: number;
  /** Answered after going again (NO_SESSION, then the re-opened session). */
  retried: number;
  /** Failed with an error the caller got. */
  failed: number;
  /** Of the failed, those the box itself ended past their deadline: nothing else had (would have been lost). */
  overdue: number;
}

export const REQUEST_OUTCOME_KEYS = ['sent', 'ok', 'retried', 'failed', 'overdue'] as const;

export function checkProfile(p: unknown): DeviceProfile {
  const where = 'device profile';
  if (p === null || typeof p !== 'object') throw new ArgumentError(`${where} must be an object`);
  const o = p as Record<string, unknown>;
  const known = ['id', 'description', 'appMemoryBytes', 'cpuClass', 'cpuFactor', 'storageBytes', 'channels', 'hardware'];
  const bad = Object.keys(o).filter((k) => !known.includes(k));
  if (bad.length > 0) throw new ArgumentError(`${where}: unknown field "${bad[0]}"`, bad[0]);
  if (typeof o.id !== 'string' || !/^[a-z0-9][a-z0-9-]{0,31}$/.test(o.id)) throw new ArgumentError(`${where}: id must be a short kebab-case name`, 'id');
  const num = (k: string, min: number, max: number): number => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new ArgumentError(`${where} ${String(o.id)}: ${k} must be in ${min}..${max}`, k);
    return v;
  };
  num('appMemoryBytes', 256 * 1024, 64 * 1024 ** 3);
  num('cpuFactor', 0.01, 10);
  num('storageBytes', 0, 1024 ** 4);
  if (!CPU_CLASSES.includes(o.cpuClass as CpuClass)) throw new ArgumentError(`${where} ${o.id}: cpuClass must be one of ${CPU_CLASSES.join(', ')}`, 'cpuClass');
  const c = o.channels as Record<string, unknown> | undefined;
  if (c === undefined || c === null || typeof c !== 'object') throw new ArgumentError(`${where} ${o.id}: channels is required`, 'channels');
  if (typeof c.twoWay !== 'boolean') throw new ArgumentError(`${where} ${o.id}: channels.twoWay must be a boolean`, 'channels.twoWay');
  for (const [k, max] of [['latencyMs', 60_000], ['loss', 1], ['carouselBitrate', 1e9]] as const) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max) throw new ArgumentError(`${where} ${o.id}: channels.${k} must be in 0..${max}`, `channels.${k}`);
  }
  if (o.hardware !== undefined) checkHardware(o.hardware, `${where} ${o.id}`);
  return p as DeviceProfile;
}

function checkHardware(h: unknown, where: string): void {
  if (h === null || typeof h !== 'object') throw new ArgumentError(`${where}: hardware must be an object`, 'hardware');
  const o = h as Record<string, unknown>;
  const bad = Object.keys(o).filter((k) => !['ramBytes', 'cpu', 'cores'].includes(k));
  if (bad.length > 0) throw new ArgumentError(`${where}: unknown field "hardware.${bad[0]}"`, `hardware.${bad[0]}`);
  const ram = o.ramBytes;
  if (typeof ram !== 'number' || !Number.isInteger(ram) || ram < 16 * 1024 ** 2 || ram > 64 * 1024 ** 3) throw new ArgumentError(`${where}: hardware.ramBytes must be an integer in 16 MiB..64 GiB`, 'hardware.ramBytes');
  if (typeof o.cpu !== 'string' || !/^[a-z0-9][a-z0-9.-]{0,31}$/.test(o.cpu)) throw new ArgumentError(`${where}: hardware.cpu must be a QEMU CPU model name`, 'hardware.cpu');
  if (typeof o.cores !== 'number' || !Number.isInteger(o.cores) || o.cores < 1 || o.cores > 64) throw new ArgumentError(`${where}: hardware.cores must be an integer in 1..64`, 'hardware.cores');
}
