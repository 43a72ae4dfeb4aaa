// A broker stub that holds each connection's CONNACK until the test releases it: a broker too busy
// to answer a CONNECT within the box's dead-path deadline (issue 13.4, the 500-box boot), on a
// path that is alive. After its CONNACK a connection gets SUBACK (granted QoS 1), PUBACK and
// PINGRESP at once. It counts connections opened and closed, so a test sees a re-dial.

import { type Server, type Socket, createServer } from 'node:net';

export interface SlowConnackBroker {
  url: string;
  /** Connections accepted so far. */
  readonly opened: number;
  /** Connections the client closed or reset. */
  readonly closed: number;
  /** CONNECT packets received (one per connection). */
  readonly connects: number;
  /** Resolves once `n` CONNECT packets arrived. */
  connected(n: number): Promise<void>;
  /** Answer connection `i`'s CONNECT now (0 = the first), or as soon as it arrives; `returnCode` 3: "server unavailable", then the broker closes it (issue 19.6). */
  release(i: number, returnCode?: number): void;
  /** Close connection `i` (a FIN, no CONNACK) as soon as it is accepted: mosquitto past max_connections. */
  hangUp(i: number): void;
  /** PINGREQs received so far (answered at once unless `holdPings`). */
  readonly pings: number;
  /** From now on PINGRESPs wait for `answerPings()`: a broker whose loop runs late. */
  holdPings(): void;
  /** Send every PINGRESP held, and answer at once again. */
  answerPings(): void;
  /** Reset connection `i` (the broker drops it). */
  drop(i: number): void;
  close(): Promise<void>;
}

interface Conn {
  socket: Socket;
  buf: Buffer;
  connect: boolean;
  released: boolean;
  answered: boolean;
  rc: number;
}

/** One MQTT packet off the front of `buf`: its type, flags and body, and the rest, or undefined when incomplete. */
function nextPacket(buf: Buffer): { type: number; flags: number; body: Buffer; rest: Buffer } | undefined {
  let len = 0;
  let mul = 1;
  let i = 1;
  for (; ; i++) {
    const b = buf[i];
    if (b === undefined) return undefined;
    len += (b & 0x7f) * mul;
    mul *= 128;
    if ((b & 0x80) === 0) break;
  }
  const end = i + 1 + len;
  if (buf.length < end) return undefined;
  return { type: (buf[0] as number) >> 4, flags: (buf[0] as number) & 0x0f, body: buf.subarray(i + 1, end), rest: buf.subarray(end) };
}

export async function slowConnackBroker(): Promise<SlowConnackBroker> {
  const conns: Conn[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const sockets = new Set<Socket>();
  const early = new Map<number, number>(); // released before they connected: their return code
  const hungUp = new Set<number>();
  let pings = 0;
  let held: Conn[] | undefined; // PINGRESPs owed while holding
  let opened = 0;
  let closed = 0;
  let connects = 0;
  const answer = (c: Conn): void => {
    if (!c.connect || !c.released || c.answered || c.socket.destroyed) return;
    c.answered = true;
    c.socket.write(Buffer.from([0x20, 0x02, 0x00, c.rc])); // CONNACK: accepted, or refused with rc
    if (c.rc !== 0) c.socket.end(); // [MQTT-3.2.2-5] a refusal closes the connection
  };
  const onPacket = (c: Conn, type: number, flags: number, body: Buffer): void => {
    if (type === 1) {
      c.connect = true;
      connects++;
      for (const w of waiters.filter((x) => connects >= x.n)) w.resolve();
      return answer(c);
    }
    if (!c.answered) return;
    const id = body.subarray(0, 2);
    if (type === 8) c.socket.write(Buffer.concat([Buffer.from([0x90, 0x03]), id, Buffer.from([0x01])])); // SUBACK
    if (type === 12) {
      pings++;
      if (held !== undefined) held.push(c);
      else c.socket.write(Buffer.from([0xd0, 0x00])); // PINGRESP
    }
    if (type === 3 && ((flags >> 1) & 3) === 1) {
      const at = 2 + body.readUInt16BE(0); // a QoS 1 PUBLISH: its packet id follows the topic
      c.socket.write(Buffer.concat([Buffer.from([0x40, 0x02]), body.subarray(at, at + 2)])); // PUBACK
    }
  };
  const server: Server = createServer({ noDelay: true }, (socket) => {
    opened++;
    sockets.add(socket);
    const c: Conn = { socket, buf: Buffer.alloc(0), connect: false, released: early.has(conns.length), answered: false, rc: early.get(conns.length) ?? 0 };
    if (hungUp.has(conns.length)) socket.end();
    conns.push(c);
    socket.on('error', () => {});
    socket.once('close', () => {
      closed++;
      sockets.delete(socket);
    });
    socket.on('data', (d: Buffer) => {
      c.buf = Buffer.concat([c.buf, d]);
      for (let p = nextPacket(c.buf); p !== undefined; p = nextPacket(c.buf)) {
        c.buf = p.rest;
        onPacket(c, p.type, p.flags, p.body);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`,
    get opened() {
      return opened;
    },
    get closed() {
      return closed;
    },
    get connects() {
      return connects;
    },
    connected: (n) => (connects >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    release: (i, rc = 0) => {
      const c = conns[i];
      if (c === undefined) return void early.set(i, rc);
      c.released = true;
      c.rc = rc;
      answer(c);
    },
    hangUp: (i) => void hungUp.add(i),
    get pings() {
      return pings;
    },
    holdPings: () => void (held ??= []),
    answerPings: () => {
      const owed = held ?? [];
      held = undefined;
      for (const c of owed) if (!c.socket.destroyed) c.socket.write(Buffer.from([0xd0, 0x00]));
    },
    drop: (i) => void conns[i]?.socket.resetAndDestroy(),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
