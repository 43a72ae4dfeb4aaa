// The ports a module's host side plugs into: a MessageLink for weft.send/request (a runtime
// Channel fits it as is), head-end service handlers, and the glue that feeds a Channel's
// incoming envelopes to a module. No transport is chosen here.

import { type Address, type ChannelOptions, Codes, type Envelope, WeftError } from '../runtime/index.ts';

/** Where weft.send / weft.request go. `Channel` (runtime/channel.ts) satisfies this directly;
 *  the box loader and the head-end node bind it to MQTT, UDP or local queues. */
export interface MessageLink {
  send(dst: Address, body?: unknown): Promise<void>;
  request(dst: Address, body?: unknown, options?: { timeoutMs?: number }): Promise<unknown>;
}

/**
 * A head-end service behind weft.services.request(name, body) [c34-c36]. `timeoutMs` is the
 * call's deadline (the guest's `timeout`, else the app's replyTimeoutMs): a handler that asks
 * elsewhere must wait that long, not a shorter default of its own.
 */
export type ServiceHandler = (body: unknown, timeoutMs: number) => unknown;

/** What a module's Channel needs to hand it incoming requests and messages. */
export interface EnvelopeSink {
  serve(body: unknown, from: Address): Promise<unknown>;
  deliver(body: unknown, from: Address): unknown;
}

/**
 * Channel handlers that feed a module: requests are served by its `request` handler (the
 * reply body, or an `err` with the SandboxError's code), messages go to its `message` handler.
 * `target` is read per envelope, so the channel can be built before the module is loaded.
 */
export function channelHandlers(target: () => EnvelopeSink | undefined): Required<Pick<ChannelOptions, 'onRequest' | 'onMessage'>> {
  return {
    onRequest: (env: Envelope) => {
      const m = target();
      if (m === undefined) return Promise.reject(new WeftError(Codes.NOT_FOUND, 'no module at this address'));
      return m.serve(env.body, env.src);
    },
    onMessage: (env: Envelope) => {
      target()?.deliver(env.body, env.src);
    },
  };
}
