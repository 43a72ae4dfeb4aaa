// The duplicate window of one peer: transfer ids completed in the last `windowMs`. A
// direct-mapped table (slot = id mod size) answers in O(1) without a Map: Weft senders number
// transfers consecutively, so the last `capacity` ids never collide. It grows on demand.

export class DedupWindow {
  readonly capacity: number;
  #ids: Uint32Array;
  #at: Float64Array;
  #mask: number;

  constructor(capacity: number) {
    // A power of two, so the slot is a mask; at least the requested capacity.
    let size = 1;
    while (size < capacity) size *= 2;
    this.capacity = size;
    const first = Math.min(size, 64);
    this.#ids = new Uint32Array(first);
    this.#at = new Float64Array(first).fill(NaN);
    this.#mask = first - 1;
  }

  /** Whether `id` completed at or after `since`. */
  has(id: number, since: number): boolean {
    const slot = id & this.#mask;
    return this.#ids[slot] === id && (this.#at[slot] as number) >= since;
  }

  /**
   * Record `id` as completed at `now`. Its slot's previous id is forgotten: past `capacity`
   * consecutive ids (or on a collision of non-consecutive ones) the oldest go first.
   */
  add(id: number, now: number, since: number): void {
    let slot = id & this.#mask;
    // One doubling may not separate two ids (77 and 205 share a slot at 64 and at 128 slots).
    while ((this.#at[slot] as number) >= since && this.#ids[slot] !== id && this.#ids.length < this.capacity) {
      this.#grow(since);
      slot = id & this.#mask;
    }
    this.#ids[slot] = id >>> 0;
    this.#at[slot] = now;
  }

  clear(): void {
    this.#at.fill(NaN);
  }

  // Double the table and re-place the entries still inside the window.
  #grow(since: number): void {
    const ids = this.#ids;
    const at = this.#at;
    const size = ids.length * 2;
    this.#ids = new Uint32Array(size);
    this.#at = new Float64Array(size).fill(NaN);
    this.#mask = size - 1;
    for (let i = 0; i < ids.length; i++) {
      const t = at[i] as number;
      if (!(t >= since)) continue;
      const slot = (ids[i] as number) & this.#mask;
      this.#ids[slot] = ids[i] as number;
      this.#at[slot] = t;
    }
  }
}
