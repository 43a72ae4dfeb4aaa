import test from 'ava';
import fc from 'fast-check';
import { CarouselError, decodeSource, encodeRepair } from '../../carousel/index.ts';
import { randomBytes } from './_app.ts';

test('property: any k of the k + r symbols give back the k source symbols', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 64 }), fc.nat(), (k, r, size, seed) => {
      const src = Array.from({ length: k }, (_, i) => randomBytes(size, seed + i));
      const rep = encodeRepair(src, r);
      const all = [...src, ...rep];
      // Keep a random k of the k + r (a seeded shuffle).
      const order = all.map((_, i) => i).sort((a, b) => ((a * 7919 + seed) % 101) - ((b * 7919 + seed) % 101));
      const keep = new Set(order.slice(0, k));
      const got = decodeSource(k, r, all.map((s, i) => (keep.has(i) ? s : undefined)), size);
      t.deepEqual(got, src);
    }),
    { numRuns: 200 },
  );
});

test('fewer than k symbols give undefined, not a wrong answer', (t) => {
  const src = [randomBytes(16, 1), randomBytes(16, 2), randomBytes(16, 3)];
  const rep = encodeRepair(src, 2);
  t.is(decodeSource(3, 2, [src[0], undefined, undefined, rep[0], undefined], 16), undefined);
  t.deepEqual(decodeSource(3, 2, [undefined, undefined, src[2], rep[0], rep[1]], 16), src);
});

test('the largest code (k + r = 255) still recovers r erasures', (t) => {
  const src = Array.from({ length: 200 }, (_, i) => randomBytes(32, i));
  const rep = encodeRepair(src, 55);
  const slots: (Uint8Array | undefined)[] = [...src, ...rep];
  for (let i = 0; i < 55; i++) slots[i * 3] = undefined;
  t.deepEqual(decodeSource(200, 55, slots, 32), src);
  t.throws(() => encodeRepair(src, 56), { instanceOf: CarouselError });
});

test('shape errors are CarouselErrors', (t) => {
  t.throws(() => decodeSource(2, 1, [new Uint8Array(4)], 4), { instanceOf: CarouselError });
  t.throws(() => decodeSource(1, 0, [new Uint8Array(3)], 4), { instanceOf: CarouselError });
  t.throws(() => encodeRepair([new Uint8Array(2), new Uint8Array(3)], 1), { instanceOf: CarouselError });
});
