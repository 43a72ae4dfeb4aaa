// The stage the lab boots firmware on: the firmware and the guide app built now into a temporary
// folder, and an embedded head-end on loopback (aedes, in-memory registry, the carousel on a
// loopback UDP port). `spec()` fills a BootSpec for a box of a profile against it.

import { randomBytes } from 'node:crypto';
import { freeUdpPort } from '../../carousel/index.ts';
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
  /** The loopback UDP port the head-end broadcasts the carousel to. */
  carouselPort: number;
  spec(profile: string, boxId: string, o: { stateDir?: string; timeoutMs: number }): BootSpec;
}


/** Build, start the head-end, run `fn` on the stage, and take it all down again. */
export async function withStage<T>(fn: (s: Stage) => Promise<T>): Promise<T> {
  const work = await mkdtemp(join(tmpdir(), 'weft-lab-'));
  try {
    const out = join(work, 'dist');
    const built = (await build({ out, keys: join(work, 'keys'), quiet: true })) as { firmware: { dir: string } };
    const port = await freeUdpPort();
    const he = await startHeadend({
      registry: 'memory',
      apps: join(out, 'apps'),
      keys: join(work, 'keys'),
      masterKey: randomBytes(24).toString('base64url'),
      carousel: `127.0.0.1:${port}`,
      brokerPort: 0,
      log: () => {},
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
      return await fn({ work, firmware: built.firmware.dir, carouselPort: port, spec });
    } finally {
      await he.close();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
