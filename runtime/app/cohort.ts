// A box's stable cohort for staged rollouts: a number in [0, 1) from its id and the app, the
// same on the box and on the head-end (FNV-1a over UTF-8), so both agree which wave a box is in
// without asking each other. Pure; no I/O.
import { utf8 } from './bytes.ts';

export function cohort01(boxId: string, app: string): number {
  let h = 0x811c9dc5;
  for (const b of utf8(`${app}\u0000${boxId}`)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 0x1_0000_0000;
}
