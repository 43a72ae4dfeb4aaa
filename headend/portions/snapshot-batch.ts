// [wave 17] A checkpoint round's snapshots, gathered per thread: the calls made in one turn of the
// node's loop go to each thread as one `snapshots` message and come back as one. A reconnect storm
// marks every session for a checkpoint at once (each confirm runs guest code); one message each
// way per instance was half the node's postMessage time in the 18,000-box storm (PERFORMANCE.md,
// wave 16). A migration's snapshot (flush) stays a call of its own: it must not wait for a turn.

import { fail, ok, type Result } from '../../runtime/index.ts';
import type { FromWorker, SnapshotResult, ToWorker } from './portion-protocol.ts';

/** Most instances in one message: a request on the thread waits behind one batch's snapshots at most. */
export const SNAPSHOT_BATCH = 64;

type Taken = Result<{ states: Record<string, Uint8Array>; queued: number }, Error>;

interface Pending<T> {
  thread: T;
  iids: string[];
  done: ((r: Taken) => void)[];
}

export class SnapshotBatcher<T> {
  readonly #call: (thread: T, make: (rid: number) => ToWorker) => Promise<FromWorker>;
  readonly #open = new Map<T, Pending<T>>();
  #armed = false;

  constructor(call: (thread: T, make: (rid: number) => ToWorker) => Promise<FromWorker>) {
    this.#call = call;
  }

  /** A checkpoint snapshot of `iid` on `thread`, sent with the others asked for in this turn. */
  take(thread: T, iid: string): Promise<Taken> {
    return new Promise((resolve) => {
      let p = this.#open.get(thread);
      if (p === undefined) this.#open.set(thread, (p = { thread, iids: [], done: [] }));
      p.iids.push(iid);
      p.done.push(resolve);
      if (p.iids.length >= SNAPSHOT_BATCH) {
        this.#open.delete(thread);
        this.#send(p);
      } else if (!this.#armed) {
        this.#armed = true;
        // After the microtasks queued now have run: a round's batch asks from promise continuations.
        process.nextTick(() => this.#sendAll());
      }
    });
  }

  #sendAll(): void {
    this.#armed = false;
    const all = [...this.#open.values()];
    this.#open.clear();
    for (const p of all) this.#send(p);
  }

  #send(p: Pending<T>): void {
    this.#call(p.thread, (rid) => ({ t: 'snapshots', rid, iids: p.iids })).then(
      (m) => {
        const results: SnapshotResult[] = m.t === 'snapshots' ? m.results : [];
        p.done.forEach((done, i) => done(answer(results[i])));
      },
      (e: unknown) => {
        for (const done of p.done) done(fail(e instanceof Error ? e : new Error(String(e))));
      },
    );
  }
}

function answer(r: SnapshotResult | undefined): Taken {
  if (r === undefined) return fail(new Error('snapshot failed: the thread gave no answer for it'));
  return 'error' in r ? fail(new Error(r.error)) : ok({ states: r.states, queued: r.queued });
}
