// The switch's held queues: what waits for a module being downloaded or moved (bounded), and the
// deadline of each request held there. The switch releases a queue when the module lands.

import type { Address, Clock } from '../runtime/index.ts';
import { UnreachableError } from './errors.ts';

export const MAX_HELD = 256;

/** Something waiting for a module in transit; `sender` is the local module that sent it (none:
 *  the loader or the network), `from` the address its handler will see. */
export type Held =
  | { kind: 'req'; body: unknown; sender: string | undefined; from: Address; resolve: (v: unknown) => void; reject: (e: Error) => void; timer: unknown; deadline: number }
  | { kind: 'msg'; body: unknown; sender: string | undefined; from: Address };

/** Queue `item` for `name`, or refuse it when MAX_HELD already wait. */
export function enqueueHeld(name: string, queue: Held[], item: Held, stats: { held: number }): Promise<void> {
  if (queue.length >= MAX_HELD) return Promise.reject(new UnreachableError(name, `more than ${MAX_HELD} messages wait for ${name}`));
  stats.held++;
  queue.push(item);
  return Promise.resolve();
}

/** A request held for `name`: answered once released, or UnreachableError after `ms`. */
export function holdRequest(clock: Clock, stats: { held: number }, name: string, queue: Held[], body: unknown, sender: string | undefined, from: Address, ms: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const item: Held = { kind: 'req', body, sender, from, resolve, reject, timer: undefined, deadline: clock.now() + ms };
    item.timer = clock.setTimeout(() => {
      const i = queue.indexOf(item);
      if (i >= 0) queue.splice(i, 1);
      reject(new UnreachableError(name, `${name} did not land within ${ms} ms`));
    }, ms);
    enqueueHeld(name, queue, item, stats).catch((e: unknown) => {
      clock.clearTimeout(item.timer as never);
      reject(e as Error);
    });
  });
}
