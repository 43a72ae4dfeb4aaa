// Counts the calls of a method that stays in use (how many Buffer views or scans a hot path
// makes): the method is wrapped until restore(), which a test calls in a finally.

/** Wrap `target[key]` so each call is counted and still made; `calls` so far, `restore()` puts it back. */
export function countCalls<T extends object, K extends keyof T>(target: T, key: K): { readonly calls: number; restore(): void } {
  const original = target[key];
  const fn = original as unknown as (...args: unknown[]) => unknown;
  let calls = 0;
  target[key] = function (this: unknown, ...args: unknown[]) {
    calls++;
    return fn.apply(this, args);
  } as T[K];
  return {
    get calls() {
      return calls;
    },
    restore: () => void (target[key] = original),
  };
}
