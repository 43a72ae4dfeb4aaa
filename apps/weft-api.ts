// The `weft` global as app modules see it: types only (the sandbox builds the object). Modules
// write `declare const weft: Weft;` and import nothing else at run time from outside apps/.

/** A weft:// virtual address, or an address object. */
export type AddressLike = string | { vaddr?: string; queue?: string; udp?: { host: string; port: number } };

export interface RequestOptions {
  /** Milliseconds before the request fails with code TIMEOUT (3). */
  timeout?: number;
}

/** What a failed request rejects with: `code` is the wire code (runtime/codes.ts). */
export interface WeftRequestError extends Error {
  code: number;
}

export interface Weft {
  /** This module's own virtual address, weft://<app>/<session>/<module>. */
  readonly self: string;
  /** The virtual address of another module of the same app and session. For an app-wide module
   *  (`"scope": "app"`) this is the session's view of it, which the head-end maps to its one
   *  address `weft://<app>/*\/<module>`. */
  address(module: string): string;
  /** Fire and forget. The body is JSON data (64 KiB of JSON at most). */
  send(addr: AddressLike, body?: unknown): void;
  request(addr: AddressLike, body?: unknown, options?: RequestOptions): Promise<unknown>;
  on(kind: 'message', handler: (body: unknown, from: AddressLike) => void | Promise<void>): void;
  /** The handler's return value (or resolved value) is the reply body. */
  on(kind: 'request', handler: (body: unknown, from: AddressLike) => unknown): void;
  on(kind: 'key', handler: (key: string) => void | Promise<void>): void;
  on(kind: 'start' | 'pause' | 'resume', handler: () => void | Promise<void>): void;
  /** The box's session with the head-end came up, went down (the box re-opens it by itself) or moved. */
  on(kind: 'session', handler: (change: { state: 'up' | 'down' | 'moved'; session?: string }) => void | Promise<void>): void;
  setTimeout(fn: () => void | Promise<void>, ms: number): number;
  clearTimeout(id: number): void;
  /**
   * Present when the manifest declares `storage`; JSON values under string keys, with a quota.
   * Whose it is depends on where the module runs (docs/APPS.md "Storage"):
   * - on the box: the app's, shared by every module of the app on that box, kept across reboots;
   * - on the head-end, a session-scope module (the default): its session's, shared by the
   *   session's head-end modules, gone when the session ends;
   * - on the head-end, an app-scope module (`"scope": "app"`): the app's, one for every session,
   *   carried in the instance's checkpoints when it is re-placed.
   */
  readonly storage?: {
    get(key: string): unknown;
    /** Throws a QuotaError when the app's quota is full. */
    set(key: string, value: unknown): void;
    delete(key: string): void;
    keys(): string[];
  };
  /** Present when the manifest declares `device`. */
  readonly device?: { info(): Record<string, unknown> };
  /** Present when the manifest declares `ui`; keys arrive through on('key'). */
  readonly ui?: { show(scene: unknown): void };
  /** One line to the box's or the head-end's log, with app, session and module; `console.*` maps
   *  here too. Lines are cut at 1,000 characters, 100 per module per 10 s. */
  readonly log: { debug(...args: unknown[]): void; info(...args: unknown[]): void; warn(...args: unknown[]): void; error(...args: unknown[]): void };
  /** Head-end only, for modules that declare `services.<name>` [c7]. */
  readonly services?: { request(name: string, body?: unknown, options?: RequestOptions): Promise<unknown> };
}
