// The transport port: the whole seam between the protocol core and a wire. Envelopes in,
// envelopes out, close, closed. Adapters: transport-local.ts here (same server, no encoding),
// transport/udp.ts and transport/mqtt.ts for Node.

import type { Address } from './address.ts';
import type { Envelope } from './envelope.ts';

export type EnvelopeHandler = (env: Envelope) => void;
/**
 * Told once how a posted envelope fared: `err` undefined at the moment `send` would resolve, else
 * the error it would reject with. Gets the envelope back, so one callback serves every post.
 */
export type SendDone = (err: Error | undefined, env: Envelope) => void;

export interface Transport {
  /** What the adapter is (`local`, `udp`, `mqtt`), for logs and statistics. */
  readonly kind: string;
  /** The address peers put in `dst` to reach this endpoint. */
  readonly address: Address;
  /**
   * Hand one envelope to the wire. Resolves when it left (msg, stat) or, where the adapter is
   * reliable for that kind, when the next hop confirmed it. Rejects with a WeftError
   * (AddressError, TimeoutError, ChannelClosedError, EncodeError); never throws synchronously.
   */
  send(env: Envelope): Promise<void>;
  /**
   * [issue 19] `send` without a promise: the request path inside the core (Channel, router,
   * dispatch) posts, so a message costs no promise per hop. Same outcomes as `send`, told to
   * `done`; never throws. Optional: `postVia` falls back to `send`.
   */
  post?(env: Envelope, done: SendDone): void;
  /** Set the one receiver of incoming envelopes (a Channel's `receive`, or a router). */
  onEnvelope(handler: EnvelopeHandler): void;
  /** Stop sending and receiving; pending sends reject with ChannelClosedError. Idempotent. */
  close(): Promise<void>;
  readonly closed: boolean;
  /** Counters for the statistics process: sent, received, dropped, malformed, ... */
  stats(): Readonly<Record<string, number>>;
}

/** Post `env` on `t`: its callback send where it has one, else its promise one. Never throws. */
export function postVia(t: Transport, env: Envelope, done: SendDone): void {
  if (t.post !== undefined) return t.post(env, done);
  t.send(env).then(
    () => done(undefined, env),
    (e: unknown) => done(e instanceof Error ? e : new Error(String(e)), env),
  );
}
