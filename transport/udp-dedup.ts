// The duplicate window of one peer: transfer ids completed in the last `windowMs`, at most
// `capacity` of them. A ring keeps them in completion order so expiry and eviction are O(1);
// a Map answers membership. No Map iteration on the hot path (deleted entries make it slow).

export class DedupWindow {
  readonly capacity: number;
  #ids: Uint32Array;
  #at: Float64Array;
  #head = 0;
  #size = 0;
  #when = new Map<number, number>();

  constructor(capacity: number) {
    this.capacity = capacity;
    // Grown on demand: most peers never need the full capacity.
    this.#ids = new Uint32Array(Math.min(capacity, 64));
    this.#at = new Float64Array(this.#ids.length);
  }

  get size(): number {
    return this.#size;
  }

  /** Whether `id` completed at or after `since`. */
  has(id: number, since: number): boolean {
    const at = this.#when.get(id);
    return at !== undefined && at >= since;
  }

  /** Record `id` as completed at `now`; forgets entries older than `since` and past capacity. */
  add(id: number, now: number, since: number): void {
    this.expire(since);
    if (this.#size === this.capacity) this.#shift();
    if (this.#size === this.#ids.length) this.#grow();
    const tail = (this.#head + this.#size) % this.#ids.length;
    this.#ids[tail] = id;
    this.#at[tail] = now;
    this.#size++;
    this.#when.set(id, now);
  }

  /** Forget entries completed before `since`. */
  expire(since: number): void {
    while (this.#size > 0 && (this.#at[this.#head] as number) < since) this.#shift();
  }

  clear(): void {
    this.#head = 0;
    this.#size = 0;
    this.#when.clear();
  }

  #shift(): void {
    const id = this.#ids[this.#head] as number;
    // A re-added id has a newer time in the map: only drop the map entry if it is this one.
    if (this.#when.get(id) === this.#at[this.#head]) this.#when.delete(id);
    this.#head = (this.#head + 1) % this.#ids.length;
    this.#size--;
  }

  #grow(): void {
    const n = Math.min(this.capacity, this.#ids.length * 2);
    const ids = new Uint32Array(n);
    const at = new Float64Array(n);
    for (let i = 0; i < this.#size; i++) {
      const j = (this.#head + i) % this.#ids.length;
      ids[i] = this.#ids[j] as number;
      at[i] = this.#at[j] as number;
    }
    this.#ids = ids;
    this.#at = at;
    this.#head = 0;
  }
}
