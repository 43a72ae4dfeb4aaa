// Head-end RSS growth while 400 strangers hold unfinished CONNECTs on the embedded broker (issue
// 12, finding 7; goal <= 50 MB), for bench/connect-hold.ts and the security bench. The strangers
// run in a child process (this file, `--strangers`) so their buffers are not counted.
import { fork } from 'node:child_process';
import { connect } from 'node:net';
import { staticCredentials } from '../headend/broker/broker-auth.ts';
import { startAedesBroker } from '../headend/broker/broker-aedes.ts';
import { table } from './_report.ts';
import { mqttFixedHeader } from '../test/_helpers/mqtt-fixtures.ts';

const N = 400;

if (process.argv[2] === '--strangers') {
  const [port, declared, sent] = process.argv.slice(3).map(Number) as [number, number, number];
  let done = 0;
  const finish = (): void => void (++done === N && process.send?.('ready'));
  for (let i = 0; i < N; i++) {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => {});
    let counted = false;
    const once = (): void => void (counted || ((counted = true), finish()));
    s.once('close', once);
    s.once('connect', () => s.write(Buffer.concat([mqttFixedHeader(0x10, declared), Buffer.alloc(sent, 0x61)]), once));
  }
  process.on('message', () => process.exit(0));
}

interface Run {
  scenario: string;
  held_connections: number;
  held_kib: number;
  refused: number;
  rss_growth_mb: number;
}

async function scenario(name: string, declared: number, sent: number, open: boolean): Promise<Run> {
  const broker = await startAedesBroker({
    credentials: staticCredentials([{ id: 'box-a', role: 'box', password: 'x' }]),
    log: () => {},
    connectTimeoutMs: 120_000,
    ...(open ? { preauth: { maxConnectBytes: 1 << 20, maxBytes: 2 ** 40, maxConnections: 1e9 }, maxPacketBytes: (1 << 20) + 4096 } : {}),
  });
  await settle();
  const before = process.memoryUsage.rss();
  const child = fork(new URL(import.meta.url), ['--strangers', String(broker.port), String(declared), String(sent)], { execArgv: ['--import', 'tsx'] });
  await new Promise<void>((resolve) => child.once('message', () => resolve()));
  let peak = 0;
  for (let i = 0; i < 10; i++) {
    await settle();
    peak = Math.max(peak, process.memoryUsage.rss());
  }
  const s = broker.stats();
  const run: Run = {
    scenario: name,
    held_connections: s.preauthHeldConnections,
    held_kib: s.preauthHeldBytes / 1024,
    refused: s.connectTooLarge + s.preauthBytes + s.preauthConnections,
    rss_growth_mb: (peak - before) / 1e6,
  };
  child.send('bye');
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await broker.close();
  return run;
}

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 100));
}

export interface ConnectHold {
  /** The larger growth of the two attacks on the default guard, MB. */
  connect_hold_rss_mb: number;
  /** The same 400 strangers with the guard opened to the old limits (1 MiB each, no cap), MB; null unless asked. */
  baseline_rss_mb: number | null;
}

/** Run the attacks (and, with `baseline`, the old limits: ~400 MB, slow); prints a table. */
export async function measureConnectHold(baseline: boolean): Promise<ConnectHold> {
  await scenario('warm-up', 4090, 4080, false); // loads and JITs everything once, so growth is the strangers'
  const runs = [
    await scenario('400 x CONNECT declaring 1 MiB (guard)', 1 << 20, (1 << 20) - 8, false),
    await scenario('400 x largest CONNECT allowed (guard)', 4090, 4080, false),
  ];
  if (baseline) runs.push(await scenario('400 x CONNECT of ~1 MiB (old limits)', (1 << 20) - 16, (1 << 20) - 32, true));
  table('unfinished CONNECTs held by the embedded broker', runs.map((r) => ({ ...r })));
  return {
    connect_hold_rss_mb: Math.max(...runs.slice(0, 2).map((r) => r.rss_growth_mb)),
    baseline_rss_mb: runs[2]?.rss_growth_mb ?? null,
  };
}
