// A seeded shuffle for tests that race many operations: each run starts them in the same orders
// (runtime's mulberry32, so no second copy of the generator lives in the tests).
import { seededRandom } from '../../runtime/index.ts';

/** A copy of `items` in a Fisher-Yates order drawn from `seed`; the same seed, the same order. */
export function shuffled<T>(items: T[], seed: number): T[] {
  const rand = seededRandom(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
