// A CPU-profile driver for the request path (docs/PERFORMANCE.md, "Request path, wave 4"):
// `node --import tsx --cpu-prof --cpu-prof-dir=<dir> bench/_reqpath-profile.ts <raw|bare|chan> [n]`
// runs n UDP round trips of one kind: raw node:dgram, the UDP transports alone, or Channels over
// them (as bench/protocol.ts does), and prints the wall time per round trip.

import { type RemoteInfo, type Socket, createSocket } from 'node:dgram';
import { Channel } from '../runtime/index.ts';
import { createUdpTransport } from '../transport/index.ts';

const mode = process.argv[2] ?? 'chan';
const N = Number(process.argv[3] ?? 100_000);
const body = new Uint8Array(100).fill(7);
const t0 = performance.now();
if (mode === 'chan') {
  const [ta, tb] = await Promise.all([createUdpTransport(), createUdpTransport()]);
  // Channels post (issue 19: the callback send) where the transport has it, as bench/protocol.ts.
  const server = new Channel({ self: tb.address, post: (e, done) => tb.post(e, done), onRequest: (r) => r.body });
  const client = new Channel({ self: ta.address, post: (e, done) => ta.post(e, done) });
  tb.onEnvelope((e) => server.receive(e));
  ta.onEnvelope((e) => client.receive(e));
  for (let i = 0; i < N; i++) await client.request(tb.address, body);
  await Promise.all([ta.close(), tb.close()]);
} else if (mode === 'bare') {
  const [ta, tb] = await Promise.all([createUdpTransport(), createUdpTransport()]);
  const ignore = (): void => {};
  tb.onEnvelope((e) => tb.post({ v: 1, kind: 'rep', id: e.id, corr: e.id, src: tb.address, dst: e.src, body: e.body }, ignore));
  await new Promise<void>((resolve) => {
    let i = 0;
    const next = (): void => ta.post({ v: 1, kind: 'req', id: i >>> 0, src: ta.address, dst: tb.address, body }, ignore);
    ta.onEnvelope(() => (++i === N ? resolve() : next()));
    next();
  });
  await Promise.all([ta.close(), tb.close()]);
} else {
  const bind = (): Promise<Socket> => new Promise((r) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => r(s));
  });
  const [a, b] = await Promise.all([bind(), bind()]);
  b.on('message', (m: Buffer, r: RemoteInfo) => b.send(m, r.port, r.address));
  const p = Buffer.from(body);
  await new Promise<void>((resolve) => {
    let i = 0;
    a.on('message', () => (++i === N ? resolve() : a.send(p, b.address().port, '127.0.0.1')));
    a.send(p, b.address().port, '127.0.0.1');
  });
  a.close();
  b.close();
}
console.log(JSON.stringify({ mode, n: N, us_per_rtt: ((performance.now() - t0) * 1000) / N }));
