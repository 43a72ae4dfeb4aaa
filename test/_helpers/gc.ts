// A full garbage collection on demand, for tests that prove an object is no longer held.
// The flag is set at run time, so the test runner needs no `--expose-gc`.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * Whether the object `ref` points to was collected. A WeakRef's target lives at least until the
 * end of the job that made or read it, so this first lets the loop turn, then collects.
 */
export async function collected(ref: WeakRef<object>): Promise<boolean> {
  await new Promise((r) => setImmediate(r));
  gc();
  gc();
  return ref.deref() === undefined;
}
