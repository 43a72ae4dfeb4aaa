// One connect attempt of the MQTT transport (mqtt.ts): opens a client on a new stream, waits for
// its CONNACK, subscribes, and settles `done` with the connection at the SUBACK. It gives no
// dead-path verdict itself: the transport's deadline does, and may keep an attempt open past it
// for a late CONNACK (issue 13.4). No mqtt import here: the client comes from a factory.

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Clock, TimerHandle } from '../runtime/index.ts';
import type { ClientSpec, ConnackLike, MqttClientLike } from './mqtt-client.ts';
import { LinkDownError, connectError, subscribeError } from './mqtt-errors.ts';
import { type ResolvedMqttOptions, openSocket } from './mqtt-options.ts';
import type { LinkWatch, RttEstimator } from './reconnect.ts';

/** One broker connection. A new one per (re)connect: nothing of a dead link is carried over. */
export interface Conn {
  client: MqttClientLike;
  socket: Socket;
  up: boolean;
  pending: Set<{ resolve: () => void; reject: (e: Error) => void }>;
  /** QoS 1 sends waiting for PUBACK. */
  acking: number;
  watch: LinkWatch | undefined;
  /** QoS 0 sends waiting for the socket to drain. */
  draining: { resolve: () => void; reject: (e: Error) => void }[];
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

export class ConnectAttempt {
  readonly conn: Conn;
  /** Dead-path verdicts given on this connection while its CONNACK had not come. */
  verdicts = 0;
  /** Resolves at the SUBACK; rejects when the client fails, closes, is refused, or is abandoned. */
  readonly done: Promise<Conn>;
  #o: ResolvedMqttOptions;
  #h: AttemptHooks;
  #answered = false;
  #settled = false;
  #resolve: (c: Conn) => void = () => {};
  #reject: (e: Error) => void = () => {};
  #timer: TimerHandle | undefined;
  #onError = (e: Error): void => this.#fail(connectError(e, `${this.#o.host}:${this.#o.port}`, this.#o.id));
  #onClose = (): void => this.#fail(new LinkDownError(`connection to ${this.#o.host}:${this.#o.port} closed before it was up`));

  /** `subackMs`: how long the SUBACK may take after the CONNACK (a slow broker, not a dead path). */
  constructor(o: ResolvedMqttOptions, h: AttemptHooks, subackMs: number) {
    this.#o = o;
    this.#h = h;
    this.done = new Promise<Conn>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.done.catch(() => {}); // an abandoned attempt nobody waits for is not an unhandled rejection
    let tcpAt = 0;
    let socket: Socket | undefined;
    const client = h.newClient(() => {
      socket = openSocket(o);
      socket.once('connect', () => (tcpAt = performance.now()));
      return socket;
    }, h.spec);
    if (socket === undefined) throw new Error('the MQTT client did not open its stream');
    this.conn = { client, socket, up: false, pending: new Set(), acking: 0, watch: undefined, draining: [], detach: () => {} };
    client.on('error', this.#onError);
    client.on('close', this.#onClose);
    client.once('connect', (connack: ConnackLike) => {
      if (this.#settled) return;
      this.#answered = true;
      if (tcpAt > 0) h.rtt.sample(performance.now() - tcpAt);
      h.onConnack();
      this.#subscribe(connack, subackMs);
    });
    client.on('message', h.onMessage);
  }

  /** The CONNACK came: whatever happens next is not a dead path. */
  get answered(): boolean {
    return this.#answered;
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** Give the attempt up: its client ends now and `done` rejects with `err`. */
  abandon(err: Error): void {
    this.#fail(err);
  }

  #subscribe(connack: ConnackLike, subackMs: number): void {
    const { client } = this.conn;
    // [13.4] a CONNACK came back over this path: a late SUBACK is a slow broker, not a dead path.
    this.#timer = this.#h.deadline.setTimeout(() => this.#fail(new LinkDownError(`no SUBACK within ${Math.round(subackMs)} ms of the CONNACK: the broker is slow`)), subackMs);
    const filter = this.#h.subscription(connack.properties?.sharedSubscriptionAvailable !== false);
    client.subscribe(filter, { qos: 1 }, (err, granted) => {
      const refusal = subscribeError(err ?? undefined, granted?.[0]?.qos, filter);
      if (refusal !== undefined) return this.#fail(refusal);
      if (this.#settled) return;
      this.#settled = true;
      this.#clearTimer();
      client.removeListener('error', this.#onError);
      client.removeListener('close', this.#onClose);
      this.#resolve(this.conn);
    });
  }

  #fail(err: Error): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#clearTimer();
    const { client } = this.conn;
    client.removeListener('error', this.#onError);
    client.removeListener('close', this.#onClose);
    client.removeListener('message', this.#h.onMessage);
    client.on('error', () => {});
    client.end(true);
    this.#reject(err);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#h.deadline.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
