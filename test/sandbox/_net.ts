// In-process network for sandbox tests: one runtime Channel per module on a LocalBus, queue id =
// the module's virtual address, so weft.send/request reach other modules through the real
// request/reply engine (a stand-in for the registry's vaddr resolution).

import { type Address, Channel, type Clock, LocalBus } from '../../runtime/index.ts';
import { channelHandlers, type EnvelopeSink, type MessageLink } from '../../sandbox/index.ts';

export class Net {
  readonly bus = new LocalBus();
  readonly channels: Channel[] = [];
  #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** A channel for `vaddr` whose incoming envelopes go to whatever `target()` returns. */
  attach(vaddr: string, target: () => EnvelopeSink | undefined): MessageLink {
    const transport = this.bus.open(vaddr);
    const ch = new Channel({
      self: { vaddr, queue: vaddr },
      clock: this.#clock,
      write: (env) => transport.send({ ...env, dst: this.#resolve(env.dst) }),
      ...channelHandlers(target),
    });
    transport.onEnvelope((env) => ch.receive(env));
    this.channels.push(ch);
    return ch;
  }

  close(): void {
    for (const ch of this.channels) ch.close();
  }

  #resolve(dst: Address): Address {
    if (dst.queue !== undefined || dst.vaddr === undefined) return dst;
    return { ...dst, queue: dst.vaddr };
  }
}

/** Let queued microtasks (local deliveries, promise settlements) run. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}
