// Set-up for box tests: a real carousel (Broadcaster) fed to a box in process, faster than air
// time so tests stay short; an aedes broker with box identities; a box wired to both. No
// assertions here.

import { Broadcaster, type CarouselOptions, type ModuleSet } from '../../carousel/index.ts';
import { staticCredentials, type Credential } from '../../headend/broker/broker-auth.ts';
import { startAedesBroker, type EmbeddedBroker } from '../../headend/broker/broker-aedes.ts';
import { profile as deviceProfile } from '../../devices/profiles.ts';
import { Box, type BoxEvent, type BoxOptions, mqttDialer, type Tuner } from '../../loader/index.ts';
import type { DeviceProfile } from '../../runtime/index.ts';
import type { TrustedKey } from '../../runtime/app/index.ts';
import type { Engine } from '../../sandbox/index.ts';

export const BOX_IDS = Array.from({ length: 12 }, (_, i) => `box-${i + 1}`);
export const NODE = { id: 'node-1', password: 'node-1-secret' };
export const boxSecret = (id: string): string => `${id}-secret`;

export async function boxBroker(): Promise<EmbeddedBroker> {
  const users: Credential[] = [{ role: 'headend', ...NODE }, ...BOX_IDS.map((id) => ({ role: 'box' as const, id, password: boxSecret(id) }))];
  return startAedesBroker({ credentials: staticCredentials(users), log: () => {} });
}

export interface CarouselFeed {
  readonly broadcaster: Broadcaster;
  readonly tuner: Tuner;
  /** Datagrams handed to the box so far. */
  readonly sent: number;
  /** Republish (a new version): the broadcaster bumps versions; the stream switches cleanly. */
  update(set: ModuleSet): void;
  /** Change datagrams on their way to the box (corrupt, drop); return [] to drop. */
  impair(fn: ((d: Uint8Array, i: number) => Uint8Array[]) | undefined): void;
  pause(): void;
  resume(): void;
  /** While paused: hand exactly `n` datagrams to the box now. */
  deliver(n: number): void;
}

/**
 * A carousel on air for one box, in process: `perTick` datagrams every `tickMs` (default 16 per
 * ms, about 13x the 2 Mbit/s air rate). The stream is the real broadcaster's.
 */
export function carouselFeed(set: ModuleSet, o: CarouselOptions & { perTick?: number; tickMs?: number; paused?: boolean } = {}): CarouselFeed {
  const { perTick = 16, tickMs = 1, paused: startPaused = false, ...carousel } = o;
  const b = new Broadcaster(set, { bitrate: 2_000_000, diiIntervalMs: 100, fallbackDiiIntervalMs: 200, ...carousel });
  let sent = 0;
  let paused = startPaused;
  let impair: ((d: Uint8Array, i: number) => Uint8Array[]) | undefined;
  let sink: ((d: Uint8Array) => void) | undefined;
  const push = (n: number): void => {
    for (let i = 0; i < n && sink !== undefined; i++) {
      const d = b.nextDatagram() as Uint8Array;
      for (const x of impair === undefined ? [d] : impair(d, sent)) sink(x);
      sent++;
    }
  };
  return {
    broadcaster: b,
    get sent() {
      return sent;
    },
    update: (s) => b.update(s),
    impair: (fn) => void (impair = fn),
    pause: () => void (paused = true),
    resume: () => void (paused = false),
    deliver: (n) => push(n),
    tuner: {
      tune: (onData) => {
        sink = onData;
        const timer = setInterval(() => {
          if (!paused) push(perTick);
        }, tickMs);
        return Promise.resolve({
          close: async () => {
            clearInterval(timer);
            sink = undefined;
          },
        });
      },
    },
  };
}

/** A tuner that never receives anything (no carousel on air). */
export const silentTuner: Tuner = { tune: () => Promise.resolve({ close: async () => {} }) };

export interface TestBox {
  box: Box;
  events: BoxEvent[];
}

/** A box on the test broker (or with no dialer when `url` is undefined). */
export function makeBox(
  engine: Engine,
  trusted: TrustedKey[],
  tuner: Tuner,
  url: string | undefined,
  o: Partial<BoxOptions> & { boxId?: string; profile?: DeviceProfile; dialUrl?: string } = {},
): TestBox {
  const { boxId = 'box-1', profile = deviceProfile('hd-dvr'), dialUrl, ...rest } = o;
  const events: BoxEvent[] = [];
  const dialTo = dialUrl ?? url;
  const box = new Box({
    boxId,
    profile,
    engine,
    tuner,
    trusted,
    ...(dialTo === undefined ? {} : { dialer: mqttDialer({ url: dialTo, boxId, password: boxSecret(boxId), backoff: { windowMs: 50, baseMs: 50, capMs: 200 } }) }),
    // Loopback on a busy 2-core machine: a first CONNACK can take 50+ ms; 3 x 100 + 50 leaves room.
    channel: { rttMs: 100, round: { baseMs: 50, capMs: 200 }, background: { baseMs: 100, capMs: 400 } },
    requestTimeoutMs: 3000,
    onEvent: (e) => events.push(e),
    ...rest,
  });
  return { box, events };
}

export { freeUdpPort } from './ports.ts';

type Closable = { stop(): Promise<unknown> } | { close(): Promise<unknown> };

/** When the test ends, stop or close `parts` one after the other, in the order given (the box first). */
export function teardownInOrder(t: { teardown(fn: () => Promise<void>): void }, ...parts: Closable[]): void {
  t.teardown(async () => {
    for (const p of parts) await ('stop' in p ? p.stop() : p.close());
  });
}
