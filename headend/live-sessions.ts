// The sessions whose portion this node hosts, with their count per app kept as they come and go
// [issue 19.6]: the node's report (every second) reads the counts, so it costs the number of apps,
// not a pass over every session (18,000 of them on a node that holds a city).

/** A session whose portion this node hosts (not merely placed: issue 14 finding 1). */
export interface Live {
  app: string;
  box: string;
}

export class LiveSessions {
  readonly #byId = new Map<string, Live>();
  readonly #perApp = new Map<string, number>();

  get size(): number {
    return this.#byId.size;
  }

  get(session: string): Live | undefined {
    return this.#byId.get(session);
  }

  has(session: string): boolean {
    return this.#byId.has(session);
  }

  set(session: string, live: Live): void {
    this.delete(session); // a session taken again may name another app: its old count goes first
    this.#byId.set(session, live);
    this.#perApp.set(live.app, (this.#perApp.get(live.app) ?? 0) + 1);
  }

  delete(session: string): boolean {
    const had = this.#byId.get(session);
    if (had === undefined) return false;
    this.#byId.delete(session);
    const n = (this.#perApp.get(had.app) ?? 1) - 1;
    if (n > 0) this.#perApp.set(had.app, n);
    else this.#perApp.delete(had.app);
    return true;
  }

  /** Sessions hosted here per app, from the counts (no session is visited). */
  perApp(): Record<string, number> {
    return Object.fromEntries(this.#perApp);
  }
}
