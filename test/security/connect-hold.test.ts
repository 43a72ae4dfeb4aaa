// Finding 7 of issue 12: unauthenticated connections holding unfinished CONNECTs. The embedded
// broker caps what they hold (per connection, in all, and how many) and cuts them after a short
// connect timeout; counted through the guard's accounting. SECURITY.md row "broker: strangers".

import { type Socket, connect } from 'node:net';
import test from 'ava';
import { staticCredentials } from '../../headend/broker/broker-auth.ts';
import { startAedesBroker, type EmbeddedBroker } from '../../headend/broker/broker-aedes.ts';
import { ManualClock } from '../../runtime/index.ts';
import { USERS, mqttFixedHeader, transport, until } from '../_helpers/mqtt-fixtures.ts';
import { StallClock } from '../_helpers/stall-clock.ts';


/** A stranger that sends the start of a CONNECT of `declared` bytes, `sent` bytes of its body, and stops. */
async function stranger(b: EmbeddedBroker, declared: number, sent: number): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = connect({ host: b.host, port: b.port });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(Buffer.concat([mqttFixedHeader(0x10, declared), Buffer.alloc(sent, 0x61)]));
  return { socket, closed };
}

// Liveness bounds for two busy cores, not latency goals.
const WAIT = 8000;

const held = (b: EmbeddedBroker): [number, number] => [b.stats().preauthHeldConnections, b.stats().preauthHeldBytes];

test('a CONNECT declaring 1 MiB is cut from its header, on the defaults', async (t) => {
  const b = await startAedesBroker({ credentials: staticCredentials(USERS), log: () => {} });
  try {
    const s = await stranger(b, 1 << 20, 60_000);
    await s.closed; // before: held for the whole connect timeout, up to 1 MiB buffered
    t.is(b.stats().connectTooLarge, 1);
    await until(() => held(b)[0] === 0, WAIT, 'slot released');
    t.deepEqual(held(b), [0, 0]);
  } finally {
    await b.close();
  }
});

test('unfinished CONNECTs: caps on connections and bytes, then the connect timeout frees everything', async (t) => {
  const clock = new ManualClock();
  const b = await startAedesBroker({
    credentials: staticCredentials(USERS),
    log: () => {},
    clock,
    preauth: { maxConnectBytes: 4096, maxBytes: 5000, maxConnections: 4 },
    connectTimeoutMs: 5000,
  });
  try {
    const four = [];
    for (let i = 0; i < 4; i++) four.push(await stranger(b, 3000, 1000));
    await until(() => held(b)[1] === 4 * 1003, WAIT, 'four unfinished CONNECTs held');
    t.deepEqual(held(b), [4, 4012]);

    const fifth = await stranger(b, 100, 10);
    await fifth.closed;
    t.is(b.stats().preauthConnections, 1, 'the fifth connection is refused at accept');

    (four[0] as { socket: Socket }).socket.write(Buffer.alloc(1500));
    await (four[0] as { closed: Promise<void> }).closed;
    t.is(b.stats().preauthBytes, 1, 'a connection that would pass the global byte cap is cut');
    await until(() => held(b)[0] === 3, WAIT, 'its bytes released');
    t.deepEqual(held(b), [3, 3009]);

    clock.advance(5000);
    await Promise.all(four.slice(1).map((s) => s.closed));
    t.is(b.stats().connectTimeout, 3);
    await until(() => held(b)[0] === 0, WAIT, 'all released');
    t.deepEqual(held(b), [0, 0]);

    const box = await transport(b.url, 'box-a', { deadPath: { initialRttMs: 2000 } });
    t.deepEqual(held(b), [0, 0], 'an authenticated box holds no pre-authentication budget');
    clock.advance(60_000);
    t.is(b.stats().connections, 1, 'and the connect timeout no longer applies to it');
    await box.close();
  } finally {
    await b.close();
  }
});

test('options: unknown names and bad values refused by name', async (t) => {
  await t.throwsAsync(startAedesBroker({ credentials: staticCredentials(USERS), preauth: { maxBytez: 1 } as never }), { message: /maxBytez/ });
  await t.throwsAsync(startAedesBroker({ credentials: staticCredentials(USERS), connectTimeoutMs: 0 }), { message: /connectTimeoutMs/ });
});

test('a connect timeout that fires late, after a stall of the broker, waits once more before it cuts (D27)', async (t) => {
  const clock = new StallClock(0);
  const b = await startAedesBroker({ credentials: staticCredentials(USERS), log: () => {}, clock, connectTimeoutMs: 5000 });
  try {
    const s = await stranger(b, 3000, 10);
    await until(() => held(b)[0] === 1, WAIT, 'the unfinished CONNECT is held');
    clock.stall(12_000); // the process sat unscheduled: the CONNECT could have been in the socket
    clock.fire();
    t.is(b.stats().connectTimeout, 0, 'a late timer does not judge at once');
    t.is(held(b)[0], 1);
    clock.stall(5000);
    clock.fire();
    await s.closed;
    t.is(b.stats().connectTimeout, 1, 'once only: the second timer cuts');
  } finally {
    await b.close();
  }
});
