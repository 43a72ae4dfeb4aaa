// [wave 17] What the node posts to one portion thread, with the envelopes of one loop iteration
// gathered: those delivered to the thread by the I/O callbacks of one pass of the node's event
// loop (the socket reads ready at once, a storm's confirms) go as one `envs` message at its check
// phase, not one postMessage each (D114: at the end of each callback instead, with nextTick, the
// storm's messages held one envelope each and cost as much as before). Any other
// message to the thread sends the gathered envelopes first, so the worker sees everything in the
// order the node sent it (a stop or a flushing snapshot runs what arrived before it).

import type { EnvDelivery, ToWorker } from './portion-protocol.ts';

/** Most envelopes in one message: past it they go at once and a new gathering starts. */
export const ENV_BATCH = 256;

export class ThreadPost {
  readonly #w: { post(m: unknown): void };
  #list: EnvDelivery[] = [];
  #armed = false;

  constructor(w: { post(m: unknown): void }) {
    this.#w = w;
  }

  /** An envelope for the thread: sent after this pass's I/O callbacks, with the others they delivered. */
  env(d: EnvDelivery): void {
    this.#list.push(d);
    if (this.#list.length >= ENV_BATCH) this.flush();
    else if (!this.#armed) {
      this.#armed = true;
      // After this pass's I/O callbacks: every socket read that is ready now adds to the message.
      setImmediate(() => {
        this.#armed = false;
        this.flush();
      });
    }
  }

  /** Any other message: the envelopes gathered before it go first. */
  post(m: ToWorker): void {
    this.flush();
    this.#w.post(m);
  }

  flush(): void {
    if (this.#list.length === 0) return;
    const list = this.#list;
    this.#list = [];
    this.#w.post(list.length === 1 ? { t: 'env', ...(list[0] as EnvDelivery) } : { t: 'envs', list });
  }
}
