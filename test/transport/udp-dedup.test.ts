// The per-peer duplicate window: consecutive ids up to capacity are all remembered, older ones
// and those past the time window are forgotten, growth keeps the live entries.
import test from 'ava';
import { DedupWindow } from '../../transport/udp-dedup.ts';

test('dedup window: remembers the last `capacity` consecutive ids, within the time window', (t) => {
  const w = new DedupWindow(1000); // rounded up to 1024
  t.is(w.capacity, 1024);
  const base = 0x3fff_fe00; // wraps past 2^30 on the way, as transfer ids may
  for (let i = 0; i < 3000; i++) w.add((base + i) >>> 0, 100 + i, 0);
  t.false(w.has(base >>> 0, 0), 'pushed out by 1024 newer ids');
  t.false(w.has((base + 3000 - 1025) >>> 0, 0));
  for (let i = 3000 - 1024; i < 3000; i++) t.true(w.has((base + i) >>> 0, 0), `id +${i}`);
  // Time window: only ids completed at or after `since` count.
  t.true(w.has((base + 2999) >>> 0, 3099));
  t.false(w.has((base + 2998) >>> 0, 3099));
  w.clear();
  t.false(w.has((base + 2999) >>> 0, 0));
});

test('dedup window: random ids collide at worst, and a new window starts empty', (t) => {
  const w = new DedupWindow(64);
  t.false(w.has(0, -1e9), 'an empty slot never matches, not even id 0');
  w.add(0xffff_ffff, 5, 0);
  t.true(w.has(0xffff_ffff, 0));
  w.add(0xffff_ffff - 64, 6, 0); // same slot in a full-size table: the older id is forgotten
  t.true(w.has(0xffff_ffff - 64, 0));
  t.false(w.has(0xffff_ffff, 0));
});

test('dedup window: a collision that survives one growth grows again instead of forgetting a live id', (t) => {
  // 77 and 205 share slot 13 of the first 64-slot table and slot 77 of a 128-slot one: one
  // doubling is not enough. Before, the second add overwrote 77 after a single growth, so a
  // straggler of transfer 77 was taken as new (udp-hostile's random marker ids hit this 1 in 128).
  const w = new DedupWindow(1024);
  w.add(77, 1, 0);
  w.add(205, 2, 0);
  t.true(w.has(77, 0), 'the earlier id is still remembered');
  t.true(w.has(205, 0));
  // At full capacity a collision still forgets the older id (the bound holds).
  const full = new DedupWindow(64);
  for (let i = 0; i < 64; i++) full.add(i, 1, 0);
  full.add(64, 2, 0);
  t.false(full.has(0, 0));
  t.true(full.has(64, 0));
});
