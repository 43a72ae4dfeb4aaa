// A box's stable cohort for staged rollouts: a number in [0, 1) from its id and the app, the
// same on the box and on the head-end (FNV-1a over UTF-8, then the murmur3 finalizer), so both agree which wave a box is in
// without asking each other. Pure; no I/O.
import { utf8 } from './bytes.ts';

export function cohort01(boxId: string, app: string): number {
  let h = 0x811c9dc5;
  for (const b of utf8(`${app}\u0000${boxId}`)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // FNV-1a alone leaves the high bits of short, sequential ids (`f0-1`, `f0-2`, ...) clustered,
  // so a 10% wave took 4% or 20%: the murmur3 finalizer mixes every bit into the top ones.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 0x1_0000_0000;
}
