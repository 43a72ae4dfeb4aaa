// Which box hosts a virtual address (mutable and client modules placed on a box) [c5, c31]: the
// one writer of the box-location map that the MQTT transport reads (`locate`). Bounded: past
// `max` entries the oldest is forgotten, and routing learns it again from the session record.

import { ArgumentError, formatVaddr } from '../../runtime/index.ts';

/** Default bound: a few placed modules per box for a large plant. */
export const MAX_BOX_LOCATIONS = 200_000;

export class BoxLocations {
  readonly #map: Map<string, string>;
  readonly #max: number;

  /** `map` is shared read-only with the MQTT transport's `locate`; only this class writes it. */
  constructor(map: Map<string, string> = new Map(), max = MAX_BOX_LOCATIONS) {
    if (!Number.isInteger(max) || max < 1) throw new ArgumentError('BoxLocations: max must be a positive integer', 'max');
    this.#map = map;
    this.#max = max;
  }

  /** The map itself, for readers (the transport's `locate`, tests, the dashboard). */
  get view(): ReadonlyMap<string, string> {
    return this.#map;
  }

  get size(): number {
    return this.#map.size;
  }

  get(vaddr: string): string | undefined {
    return this.#map.get(vaddr);
  }

  has(vaddr: string): boolean {
    return this.#map.has(vaddr);
  }

  /** `box` hosts `vaddr` now (session setup placed it there, or its session record says so). */
  set(vaddr: string, box: string): void {
    this.#map.delete(vaddr);
    if (this.#map.size >= this.#max) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
    this.#map.set(vaddr, box);
  }

  /** A session ended: forget its modules (named, so no scan of the whole map). */
  forgetSession(app: string, session: string, modules: Iterable<string>): void {
    for (const module of modules) this.#map.delete(formatVaddr({ app, session, module }));
  }
}
