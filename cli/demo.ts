// `weft demo`: what `npm start` runs. Until the box and head-end land it runs the protocol core
// for real: a guide service and a few client portions exchanging envelopes on local queues.
import type { Command } from 'commander';
import { Channel, LocalBus, type Envelope } from '../runtime/index.ts';

interface DemoOptions {
  boxes: string;
  seconds: string;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the embedded demo with a live summary until Ctrl-C')
    .option('--boxes <n>', 'emulated client portions', '3')
    .option('--seconds <n>', 'stop after this many seconds (0: run until Ctrl-C)', '0')
    .action(async (opts: DemoOptions) => {
      await runDemo(Number(opts.boxes), Number(opts.seconds));
    });
}

async function runDemo(boxes: number, seconds: number): Promise<void> {
  const bus = new LocalBus();
  const serviceT = bus.open('guide-service');
  const titles = ['News at Ten', 'Nature Hour', 'Cup Final', 'Cooking Live', 'Late Film', 'Weather'];
  const service = new Channel({
    self: serviceT.address,
    write: (e: Envelope) => serviceT.send(e),
    onRequest: (req) => {
      const q = String((req.body as { q?: unknown } | undefined)?.q ?? '').toLowerCase();
      return titles.filter((t) => t.toLowerCase().includes(q));
    },
  });
  serviceT.onEnvelope((e) => service.receive(e));

  const clients = Array.from({ length: boxes }, (_, i) => {
    const t = bus.open(`box-${i}`);
    const ch = new Channel({ self: t.address, write: (e: Envelope) => t.send(e) });
    t.onEnvelope((e) => ch.receive(e));
    return { t, ch, done: 0, failed: 0 };
  });

  let running = true;
  const stop = (): void => {
    running = false;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const started = Date.now();
  const timer = setInterval(() => {
    const total = clients.reduce((n, c) => n + c.done, 0);
    const s = service.stats();
    process.stdout.write(
      `\rweft demo  ${((Date.now() - started) / 1000).toFixed(0)}s  boxes ${clients.length}  requests ${total}  served ${s.received}  pending ${s.pending}   `,
    );
    if (seconds > 0 && Date.now() - started >= seconds * 1000) stop();
  }, 250);

  await Promise.all(
    clients.map(async (c, i) => {
      const words = ['news', 'live', 'film', 'a'];
      while (running) {
        try {
          await c.ch.request(serviceT.address, { q: words[(c.done + i) % words.length] }, { op: 'search' });
          c.done++;
        } catch {
          c.failed++;
        }
        if (c.done % 1000 === 0) await new Promise((r) => setImmediate(r));
      }
    }),
  );
  clearInterval(timer);
  process.stdout.write('\n');
  for (const c of clients) await c.t.close();
  await serviceT.close();
  console.log('weft demo: stopped cleanly');
}
