// The resource report a box sends the head-end [c5]: memory, CPU, storage, sandbox use, and
// whether the return channel is up. A pure function of what the box has now.

import type { DeviceProfile, RequestOutcomes, ResourceReport } from '../runtime/index.ts';
import type { Cpu, DeviceStorage } from './ports.ts';

export interface ReportInputs {
  boxId: string;
  profile: DeviceProfile;
  /** Bytes the app's sandbox uses now. */
  sandboxBytes: number;
  cpu: Cpu;
  storage: DeviceStorage;
  twoWayUp: boolean;
  at: number;
  /** The switch's request ledger, when an app runs [13.8]. */
  requests?: RequestOutcomes | undefined;
}

export function resourceReport(i: ReportInputs): ResourceReport {
  return {
    boxId: i.boxId,
    profile: i.profile.id,
    freeMemoryBytes: Math.max(0, i.profile.appMemoryBytes - i.sandboxBytes),
    appMemoryBytes: i.profile.appMemoryBytes,
    cpuClass: i.profile.cpuClass,
    cpuLoad: Math.round(i.cpu.load() * 1000) / 1000,
    storageFreeBytes: Math.max(0, i.storage.capacity - i.storage.used()),
    sandboxBytes: i.sandboxBytes,
    twoWayUp: i.twoWayUp,
    at: i.at,
    ...(i.requests === undefined ? {} : { requests: { ...i.requests } }),
  };
}
