// One chain of work per key: work begun on a key starts once the work begun before it on that key
// has ended (either way), and the key is forgotten when nothing follows. Used to run one box's
// switches of a session in the order they came on a node (D93) and one session's switches in turn
// on the node that hosts it (D96). Bound: one entry per key with work in flight.
export class KeyedChain<K> {
  readonly #tails = new Map<K, Promise<void>>();

  /** Keys with work in flight. */
  get size(): number {
    return this.#tails.size;
  }

  /** Does `key` have work in flight (work begun now waits for it)? */
  busy(key: K): boolean {
    return this.#tails.has(key);
  }

  /** Run `work` after the work in flight on `key` (at once when there is none); its result as it is. */
  run<T>(key: K, work: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key);
    const run = before === undefined ? work() : before.then(work);
    const done = run.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, done);
    void done.then(() => {
      if (this.#tails.get(key) === done) this.#tails.delete(key);
    });
    return run;
  }
}
