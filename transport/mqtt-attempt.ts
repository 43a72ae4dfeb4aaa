// One connect attempt of the MQTT transport (mqtt.ts): opens a client on a new stream, waits for
// its CONNACK, subscribes, and settles `done` with the connection at the SUBACK. It gives no
// dead-path verdict itself: the transport's deadline does, and may keep an attempt open past it
// for a late CONNACK (issue 13.4). No mqtt import here: the client comes from a factory.

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Clock, Envelope, SendDone, TimerHandle } from '../runtime/index.ts';
import type { ClientSpec, ConnackLike, MqttClientLike, StreamLike } from './mqtt-client.ts';
import { LinkDownError, connectError, subscribeError } from './mqtt-errors.ts';
import { type ResolvedMqttOptions, openSocket } from './mqtt-options.ts';
import type { LinkWatch, RttEstimator } from './reconnect.ts';

/** A send waiting on its connection: the envelope and whom to tell (runtime/transport.ts post). */
export interface PendingSend {
  env: Envelope;
  done: SendDone;
}

/** One broker connection. A new one per (re)connect: nothing of a dead link is carried over. */
export interface Conn {
  client: MqttClientLike;
  socket: StreamLike;
  up: boolean;
  /** Sends not yet confirmed: each is told its outcome once (a link drop tells them all). */
  pending: Set<PendingSend>;
  /** QoS 1 sends waiting for PUBACK. */
  acking: number;
  watch: LinkWatch | undefined;
  /** QoS 0 sends waiting for the socket to drain. */
  draining: PendingSend[];
  /** Remove this transport's listeners from the client. */
  detach: () => void;
}

export interface AttemptHooks {
  /** Makes the connection's client on the stream `open` opens. */
  newClient: (open: () => Socket, spec: ClientSpec) => MqttClientLike;
  spec: ClientSpec;
  rtt: RttEstimator;
  /** Confirms over the local loop's lag (lag.ts): the SUBACK timer. */
  deadline: Clock;
  /** The subscription to make, given what the CONNACK says of shared subscriptions. */
  subscription: (shared: boolean) => string;
  /** Messages from the broker, from the CONNACK on (a resumed MQTT 5 session delivers before the SUBACK). */
  onMessage: (topic: string, payload: Buffer) => void;
  /** The CONNACK came back: the path answers. */
  onConnack: () => void;
}

/** One connect attempt (closures, not a class: the firmware counts every byte, and locals minify). */
export interface ConnectAttempt {
  readonly conn: Conn;
  /** Dead-path verdicts given on this connection while its CONNACK had not come. */
  verdicts: number;
  /** Resolves at the SUBACK; rejects when the client fails, closes, is refused, or is abandoned. */
  readonly done: Promise<Conn>;
  /** The CONNACK came: whatever happens next is not a dead path. */
  readonly answered: boolean;
  readonly settled: boolean;
  /** Give the attempt up: its client ends now and `done` rejects with `err`. */
  abandon(err: Error): void;
}

/** Opens the connection now; `subackMs`: how long the SUBACK may take after the CONNACK (a slow broker, not a dead path). */
export function connectAttempt(o: ResolvedMqttOptions, h: AttemptHooks, subackMs: number): ConnectAttempt {
  const where = `${o.host}:${o.port}`;
  let answered = false;
  let settled = false;
  let timer: TimerHandle | undefined;
  let resolve: (c: Conn) => void = () => {};
  let reject: (e: Error) => void = () => {};
  const done = new Promise<Conn>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => {}); // an abandoned attempt nobody waits for is not an unhandled rejection
  let tcpAt = 0;
  let socket: Socket | undefined;
  const client = h.newClient(() => {
    socket = openSocket(o);
    socket.once('connect', () => (tcpAt = performance.now()));
    return socket;
  }, h.spec);
  const stream = socket ?? client.local; // a client of the broker in this process opens none
  if (stream === undefined) throw new Error('no stream'); // a client factory that opened none (a bug: short, the firmware counts bytes)
  const conn: Conn = { client, socket: stream, up: false, pending: new Set(), acking: 0, watch: undefined, draining: [], detach: () => {} };
  const clearTimer = (): void => {
    if (timer !== undefined) h.deadline.clearTimeout(timer);
    timer = undefined;
  };
  const fail = (err: Error): void => {
    if (settled) return;
    settled = true;
    clearTimer();
    client.removeListener('error', onError);
    client.removeListener('close', onClose);
    client.removeListener('message', h.onMessage);
    client.on('error', () => {});
    client.end(true);
    reject(err);
  };
  // [19.6] A broker that took the TCP connection and dropped it before its CONNACK is busy, not
  // gone. Over TLS only a CONNACK code says busy: a close there may be a refused handshake (TLS 1.3
  // refuses a client certificate after the client's side is done), which a retry cannot fix.
  const busyDrop = (): boolean => o.tls === undefined && tcpAt > 0 && !answered;
  const onError = (e: Error): void => fail(connectError(e, where, o.id, busyDrop()));
  const onClose = (): void => fail(connectError(new Error('closed before it was up'), where, o.id, busyDrop()));
  client.on('error', onError);
  client.on('close', onClose);
  client.once('connect', (connack: ConnackLike) => {
    if (settled) return;
    answered = true;
    if (tcpAt > 0) h.rtt.sample(performance.now() - tcpAt);
    h.onConnack();
    // [13.4] a CONNACK came back over this path: a late SUBACK is a slow broker, not a dead path.
    timer = h.deadline.setTimeout(() => fail(new LinkDownError(`no SUBACK within ${Math.round(subackMs)} ms of the CONNACK: the broker is slow`)), subackMs);
    const filter = h.subscription(connack.properties?.sharedSubscriptionAvailable !== false);
    client.subscribe(filter, { qos: 1 }, (err, granted) => {
      const refusal = subscribeError(err ?? undefined, granted?.[0]?.qos, filter);
      if (refusal !== undefined) return fail(refusal);
      if (settled) return;
      settled = true;
      clearTimer();
      client.removeListener('error', onError);
      client.removeListener('close', onClose);
      resolve(conn);
    });
  });
  // A resumed MQTT 5 session delivers what was queued right after CONNACK, before SUBACK.
  client.on('message', h.onMessage);
  return {
    conn,
    verdicts: 0,
    done,
    get answered() {
      return answered;
    },
    get settled() {
      return settled;
    },
    abandon: fail,
  };
}
