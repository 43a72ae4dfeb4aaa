// A/B of the UDP request path, old and new code alternating in one process (docs/PERFORMANCE.md,
// "Request path, wave 4"): `npx tsx bench/_reqpath-ab.ts <old tree> [n] [rounds] [--mac]`, where
// <old tree> holds runtime/ and transport/ of the code to compare against (`git archive <rev>
// runtime transport | tar -x -C /tmp/old`, with node_modules linked beside them). Prints the
// median of the rounds' RTT p50 and CPU per round trip of each, and the load average.

import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as newRuntime from '../runtime/index.ts';
import * as newTransport from '../transport/index.ts';

type Runtime = typeof newRuntime;
type Transports = typeof newTransport;

const args = process.argv.slice(2).filter((a) => a !== '--mac');
const mac = process.argv.includes('--mac');
const oldTree = args[0];
if (oldTree === undefined) {
  console.error('usage: npx tsx bench/_reqpath-ab.ts <old tree> [n] [rounds] [--mac]');
  process.exit(2);
}
const N = Number(args[1] ?? 10_000);
const ROUNDS = Number(args[2] ?? 6);
const url = (p: string): string => pathToFileURL(resolve(oldTree, p)).href;
const oldRuntime = (await import(url('runtime/index.ts'))) as Runtime;
const oldTransport = (await import(url('transport/index.ts'))) as Transports;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const cpuUs = (): number => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

type Writer = Pick<newRuntime.ChannelOptions, 'write' | 'post'>;
/** A transport's callback send where it has one (issue 19; as the node's endpoints use it), else its promise send. */
const writer = (t: newRuntime.Transport): Writer => (t.post !== undefined ? { post: (e, done) => t.post?.(e, done) } : { write: (e) => t.send(e) });

/** One round: a Channel request/reply over two UDP transports; [RTT p50 us, CPU us per round trip]. */
async function round(R: Runtime, T: Transports): Promise<[number, number]> {
  const opts = mac ? { auth: { key: 'bench-cluster-key-0123456789abcdef' } } : {};
  const [ta, tb] = await Promise.all([T.createUdpTransport(opts), T.createUdpTransport(opts)]);
  const server = new R.Channel({ self: tb.address, ...writer(tb), onRequest: (r) => r.body });
  const client = new R.Channel({ self: ta.address, ...writer(ta) });
  tb.onEnvelope((e) => server.receive(e));
  ta.onEnvelope((e) => client.receive(e));
  const body = new Uint8Array(100).fill(7);
  for (let i = 0; i < 500; i++) await client.request(tb.address, body);
  const rtt: number[] = new Array<number>(N);
  const c0 = cpuUs();
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await client.request(tb.address, body);
    rtt[i] = (performance.now() - t0) * 1000;
  }
  const cpu = (cpuUs() - c0) / N;
  await Promise.all([ta.close(), tb.close()]);
  return [median(rtt), cpu];
}

const before: [number, number][] = [];
const after: [number, number][] = [];
for (let r = 0; r < ROUNDS; r++) {
  if (r % 2 === 0) {
    before.push(await round(oldRuntime, oldTransport));
    after.push(await round(newRuntime, newTransport));
  } else {
    after.push(await round(newRuntime, newTransport));
    before.push(await round(oldRuntime, oldTransport));
  }
}
const m = (xs: [number, number][], i: 0 | 1): number => median(xs.map((x) => x[i]));
console.log(
  JSON.stringify({
    bench: 'reqpath-ab',
    mac,
    old_rtt_p50_us: m(before, 0),
    new_rtt_p50_us: m(after, 0),
    rtt_ratio_new_vs_old: m(after, 0) / m(before, 0),
    old_cpu_us_per_rtt: m(before, 1),
    new_cpu_us_per_rtt: m(after, 1),
    load: loadavg()[0],
  }),
);
