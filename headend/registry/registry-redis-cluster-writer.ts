// Script writes of the Redis Cluster registry, batched and with group-committed WAIT: the writes
// of one event-loop turn that go to one master share a pipeline, ending in one WAIT if they wait. WAIT blocks its
// connection until a replica has everything written before it, so a WAIT per write would let one
// write per replica round trip through each master; one per batch covers them all. Takes the
// cluster from its owner (registry-redis-cluster.ts); type imports only.

import type { Cluster } from 'ioredis';
import { createHash } from 'node:crypto';
import { hashSlot } from './registry-redis-cluster-keys.ts';

export interface Script {
  text: string;
  sha: string;
}

export const script = (text: string): Script => ({ text, sha: createHash('sha1').update(text).digest('hex') });

export type Arg = string | number | Buffer;

interface Pending {
  /** Redirections (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) this write has had. */
  redirects: number;
  wait: boolean;
  s: Script;
  keys: string[];
  args: Arg[];
  resolve: (out: unknown) => void;
  reject: (err: unknown) => void;
}

/** Replies that mean the script did not run on that node: send it where the slot is now. */
export const REDIRECT = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN)\b/;
export const MAX_REDIRECTS = 5;

/** Learn the slots' owners again (after a failover; ioredis does not for autopipelined commands). */
export const refreshSlots = (cluster: Cluster): Promise<void> => new Promise<void>((resolve) => cluster.refreshSlotsCache(() => resolve()));

/** The most writes one pipeline carries before its WAIT. */
const MAX_BATCH = 256;

export class ClusterWriter {
  readonly #cluster: Cluster;
  readonly #wait: { replicas: number; ms: number };
  readonly #onShort: () => void;
  #groups = new Map<string, Pending[]>();
  #scheduled = false;

  /** `onShort` is called once per write that WAIT saw on fewer replicas than asked. */
  constructor(cluster: Cluster, wait: { replicas: number; ms: number }, onShort: () => void) {
    this.#cluster = cluster;
    this.#wait = wait;
    this.#onShort = onShort;
  }

  /**
   * Run a script on its shard; with `wait`, answer once WAIT has run after it. The writes of one
   * turn to one master go in one pipeline either way. Throws what the cluster threw.
   */
  write(s: Script, keys: string[], args: Arg[], wait: boolean): Promise<unknown> {
    const w = wait && this.#wait.replicas > 0;
    return new Promise((resolve, reject) => this.#enqueue({ redirects: 0, wait: w, s, keys, args, resolve, reject }));
  }

  // Grouped by the master ioredis would send the first key to now; ioredis checks again.
  #enqueue(p: Pending): void {
    const slot = hashSlot(p.keys[0] ?? '');
    const group = `${this.#cluster.slots[slot]?.[0] ?? `slot:${slot}`}|${String(p.wait)}`;
    let list = this.#groups.get(group);
    if (list === undefined) this.#groups.set(group, (list = []));
    list.push(p);
    if (list.length >= MAX_BATCH) {
      this.#groups.delete(group);
      void this.#flush(list);
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flushAll());
    }
  }

  #flushAll(): void {
    this.#scheduled = false;
    const groups = [...this.#groups.values()];
    this.#groups.clear();
    for (const list of groups) void this.#flush(list);
  }

  /** One pipeline: the scripts (EVALSHA, or EVAL with `text`), then one WAIT if they wait. */
  async #flush(list: Pending[], text = false): Promise<void> {
    let rows: [Error | null, unknown][];
    try {
      const p = this.#cluster.pipeline();
      for (const w of list) {
        if (text) p.eval(w.s.text, w.keys.length, ...w.keys, ...w.args);
        else p.evalsha(w.s.sha, w.keys.length, ...w.keys, ...w.args);
      }
      if (list[0]?.wait === true) p.wait(this.#wait.replicas, this.#wait.ms);
      rows = (await p.exec()) ?? [];
    } catch (e) {
      // Refused before sending: the batch's keys now span masters (a reshard, a failover) so
      // each goes alone. Anything else may have run: the callers get the error, not a second run.
      if (e instanceof Error && /same slot|slots allocation|same node/i.test(e.message)) for (const w of list) this.#single(w.s, w.keys, w.args, w.wait).then(w.resolve, w.reject);
      else for (const w of list) w.reject(e);
      return;
    }
    const short = list[0]?.wait === true && Number(rows[list.length]?.[1] ?? 0) < this.#wait.replicas;
    const unknown: Pending[] = [];
    const moved: Pending[] = [];
    for (const [i, w] of list.entries()) {
      const [err, out] = rows[i] ?? [new Error('no reply in the pipeline'), undefined];
      if (err?.message.startsWith('NOSCRIPT') === true && !text) unknown.push(w);
      else if (err !== null && REDIRECT.test(err.message) && w.redirects < MAX_REDIRECTS) moved.push(w);
      else if (err !== null) w.reject(err);
      else {
        if (short) this.#onShort();
        w.resolve(out);
      }
    }
    // A master that had not seen the script (new, or just promoted): once more with its text.
    if (unknown.length > 0) await this.#flush(unknown, true);
    // Not run there (a failover moved the slot, which ioredis does not follow for a pipeline whose
    // WAIT succeeded): learn the new owners, then send again.
    if (moved.length > 0) {
      await refreshSlots(this.#cluster);
      for (const w of moved) {
        w.redirects++;
        this.#enqueue(w);
      }
    }
  }

  /** One script in its own pipeline (EVALSHA, EVAL when the shard lacks it), with WAIT when asked. */
  async #single(s: Script, keys: string[], args: Arg[], wait: boolean): Promise<unknown> {
    const run = async (text: boolean): Promise<[Error | null, unknown][]> => {
      const p = this.#cluster.pipeline();
      if (text) p.eval(s.text, keys.length, ...keys, ...args);
      else p.evalsha(s.sha, keys.length, ...keys, ...args);
      if (wait && this.#wait.replicas > 0) p.wait(this.#wait.replicas, this.#wait.ms);
      return (await p.exec()) ?? [];
    };
    const first = await run(false);
    const rows = first[0]?.[0]?.message.startsWith('NOSCRIPT') === true ? await run(true) : first;
    const [err, out] = rows[0] ?? [new Error('no reply in the pipeline'), undefined];
    if (err !== null) throw err;
    if (wait && this.#wait.replicas > 0 && Number(rows[1]?.[1] ?? 0) < this.#wait.replicas) this.#onShort();
    return out;
  }
}
