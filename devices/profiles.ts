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
  },
  {
    id: 'hd-dvr',
    description: 'HD DVR box: 32 MB for apps, disk for cached modules',
    appMemoryBytes: 32 * MB,
    cpuClass: 'mid',
    cpuFactor: 0.4,
    storageBytes: 64 * MB,
    channels: { twoWay: true, latencyMs: 20, loss: 0, carouselBitrate: 2_000_000 },
  },
  {
    id: 'modern-4k',
    description: 'modern 4K box: 256 MB for apps, fast CPU, flash storage',
    appMemoryBytes: 256 * MB,
    cpuClass: 'high',
    cpuFactor: 1,
    storageBytes: 512 * MB,
    channels: { twoWay: true, latencyMs: 10, loss: 0, carouselBitrate: 2_000_000 },
  },
  {
    id: 'broadcast-only',
    description: 'broadcast-only box: no return channel; runs on the carousel tiers alone',
    appMemoryBytes: 16 * MB,
    cpuClass: 'mid',
    cpuFactor: 0.3,
    storageBytes: 8 * MB,
    channels: { twoWay: false, latencyMs: 0, loss: 0, carouselBitrate: 2_000_000 },
  },
].map(checkProfile);

export function profile(id: string): DeviceProfile {
  const p = PROFILES.find((x) => x.id === id);
  if (p === undefined) throw new Error(`unknown device profile "${id}" (known: ${PROFILES.map((x) => x.id).join(', ')})`);
  return p;
}
