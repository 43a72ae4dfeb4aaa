// `weft carousel dump <app> --out <file.ts>` and `weft carousel serve <app>`: the carousel of a
// built app folder as an MPEG-TS file, or broadcast over UDP (multicast group or unicast).
// Composition root for carousel/: the only place that wires the UDP adapter to a broadcaster.

import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { intOption, numberOption } from './user-error.ts';
import { Broadcaster, carouselModules, dumpCycle, moduleSetFromDir, serveUdp, type CarouselOptions, type ModuleSet } from '../carousel/index.ts';

interface CommonOptions {
  bitrate: string;
  blockSize?: string;
  unsigned?: boolean;
}

export function registerCarousel(program: Command): void {
  const c = program.command('carousel').description('DSM-CC data carousel of a built app folder (docs/CAROUSEL.md)');
  c.command('dump <appDir>')
    .description('write one full carousel cycle as a plain MPEG-TS file (open it with tshark, ffprobe, a mux)')
    .requiredOption('--out <file>', 'output .ts file')
    .option('--bitrate <bits>', 'bits per second (sets the DII timing in the file)', intOption(10_000, 1_000_000_000), 2_000_000)
    .option('--block-size <bytes>', 'DDB block size (max 4066)', intOption(1, 4066))
    .option('--unsigned', 'accept a manifest without manifest.sig (development only)')
    .action(async (appDir: string, opts: CommonOptions & { out: string }) => {
      const set = await load(appDir, opts);
      const ts = dumpCycle(set, carouselOptions(opts));
      await writeFile(opts.out, ts);
      const packets = ts.length / 188;
      console.log(summary(set, new Broadcaster(set, carouselOptions(opts))));
      console.log(`wrote ${opts.out}: ${packets} TS packets, ${ts.length} bytes, ${((packets * 188 * 8) / Number(opts.bitrate)).toFixed(2)} s at ${Number(opts.bitrate) / 1e6} Mbit/s`);
    });
  c.command('serve <appDir>')
    .description('broadcast the carousel over UDP until Ctrl-C')
    .option('--group <ip>', 'multicast group, e.g. 239.10.0.1 (with --port)')
    .option('--port <n>', 'UDP port of the multicast group', intOption(1, 65535))
    .option('--unicast <host:port>', 'unicast destination instead, e.g. 127.0.0.1:5500')
    .option('--interface <ip>', 'local interface address for multicast')
    .option('--ttl <n>', 'multicast TTL', intOption(0, 255), 1)
    .option('--bitrate <bits>', 'bits per second', intOption(10_000, 1_000_000_000), 2_000_000)
    .option('--block-size <bytes>', 'DDB block size (max 4066)', intOption(1, 4066))
    .option('--seconds <n>', 'stop after this many seconds (0: until Ctrl-C)', numberOption(0), 0)
    .option('--unsigned', 'accept a manifest without manifest.sig (development only)')
    .action(async (appDir: string, opts: CommonOptions & { group?: string; port?: string; unicast?: string; interface?: string; ttl: string; seconds: string }) => {
      const set = await load(appDir, opts);
      const b = new Broadcaster(set, carouselOptions(opts));
      const dest = destination(opts);
      const server = await serveUdp(b, {
        ...dest,
        ttl: Number(opts.ttl),
        ...(opts.interface === undefined ? {} : { interface: opts.interface }),
      });
      console.log(summary(set, b));
      const where = dest.unicast === undefined ? `${dest.group}:${dest.port}` : `${dest.unicast.host}:${dest.unicast.port}`;
      console.log(`serving on udp://${where} at ${Number(opts.bitrate) / 1e6} Mbit/s (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => {
        const progress = setInterval(() => process.stdout.write(`\r${server.sent} datagrams, ${(b.timeMs / 1000).toFixed(1)} s of stream   `), 500);
        const limit = Number(opts.seconds) > 0 ? setTimeout(() => stop(), Number(opts.seconds) * 1000) : undefined;
        const stop = (): void => {
          clearInterval(progress);
          if (limit !== undefined) clearTimeout(limit);
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
      console.log(`\nstopped after ${server.sent} datagrams`);
    });
}

async function load(appDir: string, opts: CommonOptions): Promise<ModuleSet> {
  return carouselModules(await moduleSetFromDir(appDir, { requireSignature: opts.unsigned !== true }));
}

function carouselOptions(opts: CommonOptions): CarouselOptions {
  const o: CarouselOptions = { bitrate: Number(opts.bitrate) };
  if (opts.blockSize !== undefined) o.blockSize = Number(opts.blockSize);
  return o;
}

function destination(opts: { group?: string; port?: string; unicast?: string }): { group?: string; port?: number; unicast?: { host: string; port: number } } {
  if (opts.unicast !== undefined) {
    const i = opts.unicast.lastIndexOf(':');
    return { unicast: { host: opts.unicast.slice(0, i), port: Number(opts.unicast.slice(i + 1)) } };
  }
  return { group: opts.group ?? '239.10.0.1', port: Number(opts.port ?? 5500) };
}

function summary(set: ModuleSet, b: Broadcaster): string {
  const d = b.describe();
  const lines = [`app ${set.appId} ${set.version}: downloadId 0x${d.downloadId.toString(16)}, DSI transactionId 0x${d.dsiTransactionId.toString(16)}`];
  for (const g of d.groups) {
    lines.push(`  ${g.tier} DII 0x${g.transactionId.toString(16)}: ${g.modules.map((m) => `${m.id}:${m.name} (${m.size} B v${m.version})`).join(', ')}`);
  }
  return lines.join('\n');
}
