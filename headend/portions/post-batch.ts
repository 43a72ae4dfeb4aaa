// Posting to a portion thread [wave 15]. A postMessage costs this loop ~7 us whatever it carries,
// and ~2.4 us an envelope when eight go in one (a worker that drops them, 40,000 of each); an
// 18,000-box reconnect storm on mosquitto spent 2.9 s of the node's loop posting envelopes one by
// one. The envelopes for a thread now wait for the end of the turn (its microtasks) and go as one
// message; any other message (start, snapshot, stop) goes after them, so a thread sees in order
// what was posted to it.
import type { PooledWorker } from './worker-pool.ts';
import type { EnvToWorker, ToWorker } from './portion-protocol.ts';

export interface BatchedThread {
  readonly w: PooledWorker;
  batch: EnvToWorker[];
}

/** Post `m` to the thread, envelopes batched per turn, in the order of the calls. */
export function postInOrder(t: BatchedThread, m: ToWorker): void {
  if (m.t === 'env') {
    if (t.batch.push(m) === 1) queueMicrotask(() => flush(t));
    return;
  }
  flush(t);
  t.w.post(m);
}

function flush(t: BatchedThread): void {
  const list = t.batch;
  if (list.length === 0) return;
  t.batch = [];
  t.w.post(list.length === 1 ? list[0] : { t: 'envs', list });
}
