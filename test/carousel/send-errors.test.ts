// [issue 13, finding 6] A head-end whose every carousel send fails counted none of it. Send
// failures now count in the broadcaster's stats and the server's, and are reported in one line
// at most once per interval (not once per datagram, and not never).
import test from 'ava';
import { ManualClock } from '../../runtime/index.ts';
import { serveUdp } from '../../carousel/index.ts';
import { broadcaster } from './_app.ts';

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

test('every send failing is counted in stats and reported once per interval, in one line', async (t) => {
  const clock = new ManualClock();
  const b = broadcaster();
  const lines: string[] = [];
  // Broadcast without SO_BROADCAST: the kernel refuses every datagram (EACCES), like a route gone.
  const server = await serveUdp(b, { unicast: { host: '255.255.255.255', port: 9 }, clock, tickMs: 100, reportEveryMs: 10_000, onSendErrors: (line) => lines.push(line) });
  t.teardown(() => server.close());
  for (let i = 0; i < 250; i++) {
    clock.advance(100); // 25 s of stream
    while (server.stats().sendErrors < server.sent) await settle();
  }
  const s = server.stats();
  t.true(s.sent > 1000, `sent ${s.sent}`);
  t.is(s.sendErrors, s.sent, 'every failure counted');
  t.regex(s.lastSendError ?? '', /EACCES/);
  t.is(b.stats().sendErrors, s.sent, "and in the broadcaster's stats, for the dashboard");
  t.true(lines.length >= 2 && lines.length <= 3, `${lines.length} reports in 25 s at one per 10 s`);
  t.regex(lines[0] ?? '', /^carousel 255\.255\.255\.255:9: \d+ of \d+ sends failed in the last \d+ s \(EACCES\)/);
  t.false(lines.some((l) => l.includes('\n')));
});

test('a healthy stream reports nothing', async (t) => {
  const clock = new ManualClock();
  const lines: string[] = [];
  const server = await serveUdp(broadcaster(), { unicast: { host: '127.0.0.1', port: 9 }, clock, tickMs: 100, reportEveryMs: 1000, onSendErrors: (line) => lines.push(line) });
  t.teardown(() => server.close());
  for (let i = 0; i < 30; i++) {
    clock.advance(100);
    await settle();
  }
  t.is(server.stats().sendErrors, 0);
  t.deepEqual(lines, []);
});

test('serveUdp validates the new options', async (t) => {
  await t.throwsAsync(serveUdp(broadcaster(), { unicast: { host: '127.0.0.1', port: 9 }, reportEveryMs: -1 }), { message: /reportEveryMs/ });
});
