// The box emulator: a loader (loader/) on the hardware a device profile describes. It applies
// the profile's limits: the QuickJS memory limit and the storage capacity (through the loader),
// a CPU throttle, and the return channel's conditions (latency, loss, none, or cut).

import { join } from 'node:path';
import type { DeviceProfile } from '../runtime/index.ts';
import type { TrustedKey } from '../runtime/app/index.ts';
import { type Engine, loadEngine } from '../sandbox/index.ts';
import { Box, type BoxEvent, type BoxOptions, FolderStorage, MemoryStorage, type Tuner, engineMemoryFor, mqttDialer } from '../loader/index.ts';
import type { BackoffPolicy } from '../transport/reconnect.ts';
import { ThrottledCpu } from './cpu-throttle.ts';
import { profile as profileById } from './profiles.ts';
import { ReturnPath } from './return-path.ts';
import { sharedLag } from './shared-lag.ts';
import type { VerifyShare } from './verify-share.ts';

export interface EmulatedBoxOptions {
  /** A device profile, or the id of one in devices/profiles.ts. */
  profile: DeviceProfile | string;
  boxId: string;
  /** A QuickJS engine to share (fleets that trade the per-box memory cap for host memory).
   *  Default: one of the box's own, its WebAssembly memory capped from the profile. */
  engine?: Engine;
  tuner: Tuner;
  trusted: readonly TrustedKey[];
  /** The head-end's broker and this box's secret. Absent: a box with no head-end to reach. */
  headend?: { url: string; password: string };
  /** Keep device storage in this folder (`<stateDir>/<boxId>`), so a restart warm-boots. Default: in memory. */
  stateDir?: string;
  /** Cut the return channel: connections go nowhere (a dead path), for the emulated "return cut". */
  cutReturn?: boolean;
  /** Throttle guest code by the profile's cpuFactor. Default true. */
  throttle?: boolean;
  /** Reconnect backoff of the MQTT link after a drop. Default: the transport's. */
  backoff?: Partial<BackoffPolicy>;
  onEvent?: (e: BoxEvent) => void;
  /** Signature checks shared with the other boxes of this process (verify-share.ts). Default: the box verifies its own. */
  verifyShare?: VerifyShare;
  /** Passed to the loader as is (channel policy, timeouts, grace). */
  loader?: Pick<BoxOptions, 'channel' | 'requestTimeoutMs' | 'sessionGraceMs' | 'app' | 'clock' | 'random' | 'traceRate' | 'reportEveryMs'>;
}

export interface EmulatedBox {
  readonly box: Box;
  readonly profile: DeviceProfile;
  /** The relay that shapes the return channel, when there is one. */
  readonly path: ReturnPath | undefined;
  readonly cpu: ThrottledCpu | undefined;
  stop(): Promise<void>;
}

export async function startEmulatedBox(o: EmulatedBoxOptions): Promise<EmulatedBox> {
  const profile = typeof o.profile === 'string' ? profileById(o.profile) : o.profile;
  const ch = profile.channels;
  let path: ReturnPath | undefined;
  let dialer: BoxOptions['dialer'];
  if (ch.twoWay && o.headend !== undefined) {
    const u = new URL(o.headend.url);
    // [devices] the profile's return channel between the box and the head-end's broker.
    path = await ReturnPath.start({
      target: { host: u.hostname, port: Number(u.port || 1883) },
      latencyMs: ch.latencyMs,
      loss: ch.loss,
      mode: o.cutReturn === true ? 'dead' : 'open',
    });
    dialer = mqttDialer({ url: path.url, boxId: o.boxId, password: o.headend.password, ...(o.backoff === undefined ? {} : { backoff: o.backoff }) });
  }
  const cpu = o.throttle === false ? undefined : new ThrottledCpu(profile.cpuFactor);
  const storage = o.stateDir === undefined ? new MemoryStorage(profile.storageBytes) : new FolderStorage(join(o.stateDir, o.boxId), profile.storageBytes);
  // [devices] the QuickJS memory limit: the engine's WebAssembly memory, sized from the profile.
  const engine = o.engine ?? (await loadEngine({ maxMemoryBytes: engineMemoryFor(profile) }));
  const box = new Box({
    boxId: o.boxId,
    profile,
    engine,
    tuner: o.tuner,
    trusted: o.verifyShare === undefined ? o.trusted : o.verifyShare.keys(o.trusted),
    storage,
    ...(dialer === undefined ? {} : { dialer }),
    ...(cpu === undefined ? {} : { cpu }),
    ...(o.onEvent === undefined ? {} : { onEvent: o.onEvent }),
    ...o.loader,
    // [issue 19] one lag meter per clock for the boxes of this process, not one per running app (D97).
    lag: () => sharedLag(o.loader?.clock).hold(),
  });
  await box.start();
  return {
    box,
    profile,
    path,
    cpu,
    stop: async () => {
      await box.stop();
      await path?.close();
    },
  };
}
