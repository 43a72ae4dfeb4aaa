// The signed test guide app broadcast on a loopback carousel at a free port, with its trusted
// key in a file: what a `weft box run` or `weft fleet run` process needs to boot in a test.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { Broadcaster, serveUdp } from '../../carousel/index.ts';
import { trustedKeyToJson } from '../../runtime/app/index.ts';
import { guideApp, signer } from './box-app.ts';
import { freeUdpPort } from './box-fixtures.ts';

/** Broadcast until the test ends; `args` are the CLI flags that point a box at it. */
export async function onAir(t: ExecutionContext): Promise<{ port: number; trust: string; args: string[] }> {
  const keys = await signer();
  const app = await guideApp(keys);
  const dir = mkdtempSync(join(tmpdir(), 'weft-air-'));
  const trust = join(dir, 'trusted.json');
  writeFileSync(trust, JSON.stringify(keys.trusted.map(trustedKeyToJson)));
  const port = await freeUdpPort();
  const air = await serveUdp(new Broadcaster(app.set, { bitrate: 2_000_000, diiIntervalMs: 100 }), { unicast: { host: '127.0.0.1', port } });
  t.teardown(async () => {
    await air.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { port, trust, args: ['--carousel', `udp://127.0.0.1:${port}`, '--trust', trust] };
}
