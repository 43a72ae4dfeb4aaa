// When a portion thread takes another instance (issue 19 builds 2-3): by the QuickJS memory its
// engines hold, as its last load report gave it, and a coarse count. Pure; PortionManager asks it.
// A thread is a unit of CPU, not of memory: a node adds one when a thread's engines fill up,
// while CPU growth is the elastic controller's (elastic.ts).

/** A thread as its manager sees it: instances placed, engine bytes from its last load report. */
export interface ThreadFill {
  instances: number;
  /** WebAssembly bytes its app engines hold; undefined before its first load report. */
  engineBytes: number | undefined;
}

export interface ThreadLimits {
  /** Most instances on one thread, whatever their size. */
  perThread: number;
  /** Engine bytes past which a thread takes no new instance. */
  memoryBytes: number;
}

/** Instances one thread may hold at most. A guide portion is ~150 KB of QuickJS heap: 4,096 of
 *  them fill ~600 MB, past the default budget below, so the budget decides first. */
export const PER_THREAD = 4096;

/** Half the worker's default engine cap (512 MiB): the instances already there keep room to grow
 *  (a load report is up to 500 ms old: ~75 MB of starts at 1,000/s). */
export const THREAD_MEMORY_BYTES = 256 * 1024 * 1024;

export function threadHasRoom(t: ThreadFill, limits: ThreadLimits): boolean {
  return t.instances < limits.perThread && (t.engineBytes ?? 0) < limits.memoryBytes;
}
