// The stage the lab boots firmware on: the firmware and the guide app built now into a temporary
// folder, and an embedded head-end on loopback (aedes, in-memory registry, the carousel on a
// loopback UDP port the stage holds). `spec()` fills a BootSpec for a box of a profile against it.

import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { freeUdpPort, listenShared, type SharedListener } from '../../carousel/index.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHeadend } from '../../headend/main.ts';
import { profile as profileById } from '../profiles.ts';
import type { BootSpec } from './boot.ts';
// @ts-expect-error build.mjs is plain JavaScript without type declarations
import { build } from '../../build.mjs';

export interface Stage {
  work: string;
  firmware: string;
  /** The loopback UDP port the head-end broadcasts the carousel to (held by the stage: boxes follow its hub). */
  carouselPort: number;
  /** The carousel relayed to another loopback port, found free now (for a listener that cannot follow a hub: the VM's hostfwd). */
  carouselRelay(): Promise<{ port: number; close(): Promise<void> }>;
  spec(profile: string, boxId: string, o: { stateDir?: string; timeoutMs: number }): BootSpec;
}

/**
 * A loopback port for the carousel, held for the stage's life as the hub of the loopback share
 * (carousel/udp-share.ts) that boxes on loopback follow. Found free and released, a port could be
 * bound by another process between boots on this shared machine (a fleet's boxes bind hundreds of
 * ephemeral loopback ports), which then swallowed the carousel: a whole bench stage stood in
 * `tuning` (docs/LAB.md). A port lost between its choice and the bind is given up for another.
 */
async function holdCarouselPort(): Promise<SharedListener> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const hub = await listenShared({ port: await freeUdpPort(), host: '127.0.0.1' }, () => {});
    if (hub.role() === 'hub') return hub;
    await hub.close();
  }
  throw new Error('no loopback UDP port for the carousel stayed free long enough to hold it (5 tries)');
}

/** Follow the hub on `port` and send each datagram on to a port found free now. */
async function relayCarousel(port: number): Promise<{ port: number; close(): Promise<void> }> {
  const to = await freeUdpPort();
  const out = createSocket('udp4');
  out.on('error', () => {}); // nothing listening there yet: a datagram lost, as on the air
  const follower = await listenShared({ port, host: '127.0.0.1' }, (d) => out.send(d, to, '127.0.0.1'));
  return {
    port: to,
    close: async () => {
      await follower.close();
      await new Promise<void>((r) => out.close(() => r()));
    },
  };
}

/** Build, start the head-end, run `fn` on the stage, and take it all down again. */
export async function withStage<T>(fn: (s: Stage) => Promise<T>): Promise<T> {
  const work = await mkdtemp(join(tmpdir(), 'weft-lab-'));
  try {
    const out = join(work, 'dist');
    const built = (await build({ out, keys: join(work, 'keys'), quiet: true })) as { firmware: { dir: string } };
    const hold = await holdCarouselPort();
    const port = hold.port;
    const he = await startHeadend({
      registry: 'memory',
      apps: join(out, 'apps'),
      keys: join(work, 'keys'),
      masterKey: randomBytes(24).toString('base64url'),
      carousel: `127.0.0.1:${port}`,
      brokerPort: 0,
      log: () => {},
    }).catch(async (e: unknown) => {
      await hold.close();
      throw e;
    });
    const now = (): number => performance.now();
    const spec = (id: string, boxId: string, o: { stateDir?: string; timeoutMs: number }): BootSpec => {
      const p = profileById(id);
      return {
        firmware: built.firmware.dir,
        profile: id,
        boxId,
        password: he.boxSecret(boxId),
        headend: p.channels.twoWay ? he.brokerUrl : undefined,
        carousel: `udp://127.0.0.1:${port}`,
        until: p.channels.twoWay ? 'up' : 'degraded',
        timeoutMs: o.timeoutMs,
        now,
        ...(o.stateDir === undefined ? {} : { stateDir: o.stateDir }),
      };
    };
    try {
      return await fn({ work, firmware: built.firmware.dir, carouselPort: port, carouselRelay: () => relayCarousel(port), spec });
    } finally {
      await he.close();
      await hold.close();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
