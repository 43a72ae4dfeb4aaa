// The box models Weft emulates, as data. The loader receives one of these from its composition
// root; it never imports this file.

import { checkProfile, type DeviceProfile } from '../runtime/index.ts';

const MB = 1024 * 1024;

export const PROFILES: readonly DeviceProfile[] = [
  {
    id: 'legacy-sd',
    description: 'legacy SD box: a few MB for apps, slow CPU, no storage (cold boot from the carousel every time)',
    appMemoryBytes: 4 * MB,
    cpuClass: 'low',
    cpuFactor: 0.15,
    storageBytes: 0,
    channels: { twoWay: true, latencyMs: 40, loss: 0, carouselBitrate: 2_000_000 },
    hardware: { ramBytes: 128 * MB, cpu: 'cortex-a53', cores: 1 },
  },
  {
    id: 'hd-dvr',
    description: 'HD DVR box: 32 MB for apps, disk for cached modules',
    appMemoryBytes: 32 * MB,
    cpuClass: 'mid',
    cpuFactor: 0.4,
    storageBytes: 64 * MB,
    channels: { twoWay: true, latencyMs: 20, loss: 0, carouselBitrate: 2_000_000 },
    hardware: { ramBytes: 256 * MB, cpu: 'cortex-a53', cores: 2 },
  },
  {
    id: 'modern-4k',
    description: 'modern 4K box: 256 MB for apps, fast CPU, flash storage',
    appMemoryBytes: 256 * MB,
    cpuClass: 'high',
    cpuFactor: 1,
    storageBytes: 512 * MB,
    channels: { twoWay: true, latencyMs: 10, loss: 0, carouselBitrate: 2_000_000 },
    hardware: { ramBytes: 2048 * MB, cpu: 'cortex-a72', cores: 4 },
  },
  {
    id: 'broadcast-only',
    description: 'broadcast-only box: no return channel; runs on the carousel tiers alone',
    appMemoryBytes: 16 * MB,
    cpuClass: 'mid',
    cpuFactor: 0.3,
    storageBytes: 8 * MB,
    channels: { twoWay: false, latencyMs: 0, loss: 0, carouselBitrate: 2_000_000 },
    hardware: { ramBytes: 128 * MB, cpu: 'cortex-a53', cores: 1 },
  },
].map(checkProfile);

export function profile(id: string): DeviceProfile {
  const p = PROFILES.find((x) => x.id === id);
  if (p === undefined) throw new Error(`unknown device profile "${id}" (known: ${PROFILES.map((x) => x.id).join(', ')})`);
  return p;
}

/** What a lab gives one box of a profile: a VM the size of the device, and a memory cgroup for the firmware alone. */
export interface LabLimits {
  /** qemu-system `-m`, MiB: the device's whole RAM (its kernel is in the VM too). */
  vmMemoryMb: number;
  /** memory.max of the firmware's cgroup, bytes: the share of RAM a box leaves to Weft. */
  cgroupMemoryBytes: number;
  /** qemu-system `-cpu` and `-smp`. */
  cpu: string;
  cores: number;
}

// On a set-top box the video pipeline, the middleware and the kernel keep about half of the RAM;
// Weft's firmware (Node, QuickJS and the apps) gets the rest. docs/LAB.md, "Memory".
const WEFT_SHARE_OF_RAM = 0.5;

/** The VM size and cgroup limit for a profile (docs/LAB.md); a profile without hardware has none. */
export function labLimits(p: DeviceProfile): LabLimits {
  const hw = p.hardware;
  if (hw === undefined) throw new Error(`device profile "${p.id}" has no hardware (RAM, CPU): the lab cannot size it`);
  const cgroup = Math.floor((hw.ramBytes * WEFT_SHARE_OF_RAM) / (4096 * 256)) * 4096 * 256; // whole MiB
  return { vmMemoryMb: Math.ceil(hw.ramBytes / MB), cgroupMemoryBytes: cgroup, cpu: hw.cpu, cores: hw.cores };
}
