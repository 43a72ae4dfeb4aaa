// The transport contract: every adapter of the Transport port (local queue, UDP, MQTT) passes
// these same tests. A test file calls transportContract with a factory of connected pairs.

import test from 'ava';
import { Channel, ChannelClosedError, Codes, ManualClock, RemoteError, WeftError, postVia, type Address, type Envelope, type Transport } from '../../runtime/index.ts';

export interface TransportPair {
  a: Transport;
  b: Transport;
  /** An address of the adapter's kind that nobody serves. */
  nowhere: Address;
  close(): Promise<void>;
}

export interface ContractOptions {
  /** Body size for the large-message case (bytes). Default 200 KB. */
  largeBody?: number;
  /** Messages in the burst case. Default 2000. */
  burst?: number;
}

/** ava's timeout for one test (package.json): a deadline that cannot end a case before ava does. */
const TEST_LIMIT_MS = 60_000;

function collect(t: Transport): { got: Envelope[]; next: (n: number) => Promise<Envelope[]> } {
  const got: Envelope[] = [];
  const waiters: { n: number; resolve: (e: Envelope[]) => void }[] = [];
  t.onEnvelope((e) => {
    got.push(e);
    for (const w of [...waiters]) if (got.length >= w.n) w.resolve(got.slice(0, w.n));
  });
  return {
    got,
    next: (n) => (got.length >= n ? Promise.resolve(got.slice(0, n)) : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

export function transportContract(name: string, make: () => Promise<TransportPair>, options: ContractOptions = {}): void {
  const large = options.largeBody ?? 200_000;
  const burst = options.burst ?? 2000;

  test(`${name}: a message arrives with every field intact`, async (t) => {
    const p = await make();
    try {
      const rx = collect(p.b);
      const body = { text: 'Grüße, 世界', n: 42, neg: -7, f: 1.5, list: [1, 'two', null, true], bytes: new Uint8Array([0, 255, 7]) };
      const sent: Envelope = { v: 1, kind: 'msg', id: 77, src: p.a.address, dst: p.b.address, op: 'hello', body };
      await p.a.send(sent);
      const [got] = await rx.next(1);
      t.is(got?.kind, 'msg');
      t.is(got?.id, 77);
      t.is(got?.op, 'hello');
      t.deepEqual(got?.src, p.a.address);
      const b = got?.body as typeof body;
      t.is(b.text, body.text);
      t.deepEqual(b.list, body.list);
      t.deepEqual([...b.bytes], [0, 255, 7]);
    } finally {
      await p.close();
    }
  });

  test(`${name}: a burst of ${burst} messages all arrive, none twice`, async (t) => {
    const p = await make();
    try {
      const rx = collect(p.b);
      const sends: Promise<void>[] = [];
      for (let i = 0; i < burst; i++) sends.push(p.a.send({ v: 1, kind: 'msg', id: i, src: p.a.address, dst: p.b.address, body: i }));
      await Promise.all(sends);
      const got = await rx.next(burst);
      t.deepEqual(new Set(got.map((e) => e.body)).size, burst);
      t.is(rx.got.length, burst);
    } finally {
      await p.close();
    }
  });

  test(`${name}: request/reply and error replies through Channels`, async (t) => {
    const p = await make();
    try {
      const server = new Channel({
        self: p.b.address,
        write: (e) => p.b.send(e),
        onRequest: (req) => {
          if (req.op === 'fail') throw new RemoteError(Codes.NOT_FOUND, 'no such programme');
          if (req.op === 'bug') throw new Error('secret stack detail');
          return { echo: req.body, op: req.op };
        },
      });
      // This case is about replies, not deadlines (the next one is): a reply queued behind this
      // file's concurrent bursts (every case runs at once, four brokers in one process) missed a
      // 5 s wall-clock deadline under a CPU hog (test:stress: 5 of 8 pairs in one run). The
      // client's deadline is on a clock that does not move, and the one the request carries (the
      // server drops what arrives past it) is ava's own limit: a reply that never comes still fails.
      const client = new Channel({ self: p.a.address, write: (e) => p.a.send(e), clock: new ManualClock(Date.now()), timeoutMs: TEST_LIMIT_MS });
      p.b.onEnvelope((e) => server.receive(e));
      p.a.onEnvelope((e) => client.receive(e));
      t.deepEqual(await client.request(p.b.address, { q: 'news' }, { op: 'search' }), { echo: { q: 'news' }, op: 'search' });
      const e1 = await t.throwsAsync(client.request(p.b.address, null, { op: 'fail' }), { instanceOf: RemoteError });
      t.is(e1.code, Codes.NOT_FOUND);
      const e2 = await t.throwsAsync(client.request(p.b.address, null, { op: 'bug' }), { instanceOf: RemoteError });
      t.is(e2.code, Codes.INTERNAL);
      t.notRegex(e2.message, /secret/);
      const many = await Promise.all(Array.from({ length: 200 }, (_, i) => client.request(p.b.address, i)));
      t.deepEqual(many.map((r) => (r as { echo: number }).echo), Array.from({ length: 200 }, (_, i) => i));
    } finally {
      await p.close();
    }
  });

  test(`${name}: Channels that post (callback sends, issue 19) get the same replies, errors and close as send`, async (t) => {
    const p = await make();
    try {
      const server = new Channel({
        self: p.b.address,
        post: (e, done) => postVia(p.b, e, done),
        onRequest: (req) => {
          if (req.op === 'fail') throw new RemoteError(Codes.NOT_FOUND, 'no such programme');
          return req.body;
        },
      });
      const client = new Channel({ self: p.a.address, post: (e, done) => postVia(p.a, e, done), clock: new ManualClock(Date.now()), timeoutMs: TEST_LIMIT_MS });
      p.b.onEnvelope((e) => server.receive(e));
      p.a.onEnvelope((e) => client.receive(e));
      t.deepEqual(await client.request(p.b.address, { q: 'news' }), { q: 'news' });
      const e1 = await t.throwsAsync(client.request(p.b.address, null, { op: 'fail' }), { instanceOf: RemoteError });
      t.is(e1.code, Codes.NOT_FOUND);
      const many = await Promise.all(Array.from({ length: 100 }, (_, i) => client.request(p.b.address, i)));
      t.deepEqual(many, Array.from({ length: 100 }, (_, i) => i));
      await p.a.close();
      const done = await new Promise<[Error | undefined, Envelope]>((resolve) => postVia(p.a, { v: 1, kind: 'msg', id: 1, src: p.a.address, dst: p.b.address }, (e, env) => resolve([e, env])));
      t.true(done[0] instanceof ChannelClosedError, `got ${String(done[0])}`);
      t.is(done[1].id, 1, 'done gets the envelope back');
    } finally {
      await p.close();
    }
  });

  test(`${name}: a ${Math.round(large / 1000)} KB body arrives intact`, async (t) => {
    const p = await make();
    try {
      const rx = collect(p.b);
      const bytes = new Uint8Array(large);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) & 0xff;
      await p.a.send({ v: 1, kind: 'req', id: 5, src: p.a.address, dst: p.b.address, body: bytes });
      const [got] = await rx.next(1);
      t.deepEqual(Buffer.from(got?.body as Uint8Array), Buffer.from(bytes));
    } finally {
      await p.close();
    }
  });

  test(`${name}: a request to an address nobody serves fails with a typed error by its deadline`, async (t) => {
    const p = await make();
    try {
      // The deadline is the channel's clock, not the wall's: once the transport has taken (or
      // refused) the request, its deadline passing ends it with a typed error, however busy the CPU.
      const clock = new ManualClock(Date.now());
      let written: Promise<void> | undefined;
      const client = new Channel({ self: p.a.address, write: (e) => (written = p.a.send(e)), timeoutMs: 1500, clock });
      p.a.onEnvelope((e) => client.receive(e));
      const asked = client.request(p.nowhere, 'anyone?');
      await written?.catch(() => undefined);
      clock.advance(1500);
      const err = await t.throwsAsync(asked);
      t.true(err instanceof WeftError, `got ${err?.name}`);
    } finally {
      await p.close();
    }
  });

  test(`${name}: after close, send rejects with ChannelClosedError and nothing more is delivered`, async (t) => {
    const p = await make();
    try {
      let delivered = 0;
      p.b.onEnvelope(() => delivered++);
      await p.a.close();
      t.true(p.a.closed);
      await t.throwsAsync(p.a.send({ v: 1, kind: 'msg', id: 1, src: p.a.address, dst: p.b.address }), { instanceOf: ChannelClosedError });
      await p.a.close(); // idempotent
      t.is(delivered, 0);
    } finally {
      await p.close();
    }
  });
}
