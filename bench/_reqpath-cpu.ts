// The request path's own CPU, without system calls (docs/PERFORMANCE.md, "Request path, wave 6"):
// `npx tsx bench/_reqpath-cpu.ts [old tree] [n] [rounds]` runs Channel request/replies over two
// UDP transports whose sockets are an in-memory pair (a datagram written is queued, then
// delivered in order), so what is timed is Weft's JS alone: the codec, the framing, the
// reliability bookkeeping, the Channels. With <old tree> (as for bench/_reqpath-ab.ts) the old
// and new code alternate in one process. Prints the median CPU us per round trip of each side.

import type { RemoteInfo } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as newRuntime from '../runtime/index.ts';
import * as newUdp from '../transport/udp.ts';
import { resolveOptions } from '../transport/udp-options.ts';

type Runtime = typeof newRuntime;
type Udp = typeof newUdp;
const [oldTree, nArg, roundsArg] = process.argv.slice(2);
const N = Number(nArg ?? 200_000);
const ROUNDS = Number(roundsArg ?? 6);

/** Datagrams written and not yet delivered, across both fake sockets. */
const wire: [FakeSocket, Buffer, RemoteInfo][] = [];

class FakeSocket extends EventEmitter {
  peer: FakeSocket | undefined;
  readonly port: number;
  constructor(port: number) {
    super();
    this.port = port;
  }
  address(): { address: string; family: string; port: number } {
    return { address: '127.0.0.1', family: 'IPv4', port: this.port };
  }
  send(d: Buffer, _port: number, _host: string, cb?: (e: Error | null) => void): void {
    // A copy, as the kernel makes one: the sender may reuse its buffer.
    wire.push([this.peer as FakeSocket, Buffer.from(d), { address: '127.0.0.1', family: 'IPv4', port: this.port, size: d.length }]);
    cb?.(null);
  }
  close(cb?: () => void): void {
    cb?.();
  }
}

function drain(): void {
  for (let i = 0; i < wire.length; i++) {
    const [to, d, r] = wire[i] as [FakeSocket, Buffer, RemoteInfo];
    to.emit('message', d, r);
  }
  wire.length = 0;
}

async function round(R: Runtime, U: Udp, resolveOpts: typeof resolveOptions): Promise<number> {
  const sa = new FakeSocket(40001);
  const sb = new FakeSocket(40002);
  sa.peer = sb;
  sb.peer = sa;
  const ta = new U.UdpTransport(sa as never, resolveOpts({}));
  const tb = new U.UdpTransport(sb as never, resolveOpts({}));
  const server = new R.Channel({ self: tb.address, post: (e, done) => tb.post(e, done), onRequest: (r) => r.body });
  const client = new R.Channel({ self: ta.address, post: (e, done) => ta.post(e, done) });
  tb.onEnvelope((e) => server.receive(e));
  ta.onEnvelope((e) => client.receive(e));
  const body = new Uint8Array(100).fill(7);
  const once = async (): Promise<void> => {
    const p = client.request(tb.address, body);
    drain();
    drain();
    await p;
  };
  for (let i = 0; i < 5000; i++) await once();
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) await once();
  const c = process.cpuUsage(c0);
  await Promise.all([ta.close(), tb.close()]);
  return (c.user + c.system) / N;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const url = (p: string): string => pathToFileURL(resolve(oldTree as string, p)).href;
const old =
  oldTree === undefined || oldTree === '-'
    ? undefined
    : { R: (await import(url('runtime/index.ts'))) as Runtime, U: (await import(url('transport/udp.ts'))) as Udp, o: ((await import(url('transport/udp-options.ts'))) as { resolveOptions: typeof resolveOptions }).resolveOptions };
const before: number[] = [];
const after: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  if (old !== undefined && r % 2 === 1) before.push(await round(old.R, old.U, old.o));
  after.push(await round(newRuntime, newUdp, resolveOptions));
  if (old !== undefined && r % 2 === 0) before.push(await round(old.R, old.U, old.o));
}
console.log(JSON.stringify({ bench: 'reqpath-cpu', n: N, ...(old === undefined ? {} : { old_cpu_us_per_rtt: median(before) }), new_cpu_us_per_rtt: median(after), load: loadavg()[0] }));
