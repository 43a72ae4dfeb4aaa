import test from 'ava';
import fc from 'fast-check';
import { CarouselError, SectionDepacketizer, SectionPacketizer, TS_PACKET, nullPacket, parseTsHeader } from '../../carousel/index.ts';

// A fake "section": valid length field, arbitrary body (the TS layer does not look inside).
function section(len: number, fill: number): Uint8Array {
  const s = new Uint8Array(len).fill(fill);
  s[0] = 0x3c;
  s[1] = 0xb0 | ((len - 3) >> 8);
  s[2] = (len - 3) & 0xff;
  return s;
}

function packetize(sections: Uint8Array[], pid = 0x200): Uint8Array[] {
  const pz = new SectionPacketizer(pid);
  const queue = [...sections];
  const out: Uint8Array[] = [];
  for (;;) {
    const p = pz.packet(() => queue.shift());
    if (p === undefined) return out;
    out.push(p);
  }
}

function depacketize(packets: Uint8Array[], pid = 0x200): { sections: Uint8Array[]; dp: SectionDepacketizer } {
  const dp = new SectionDepacketizer(pid);
  const sections: Uint8Array[] = [];
  for (const p of packets) {
    const h = parseTsHeader(p);
    if (h.pid === pid) dp.push(p, h, (s) => sections.push(s));
  }
  return { sections, dp };
}

test('sections pack back to back: pointer field, PUSI, CC 0..15 wrapping, 0xFF stuffing at the end', (t) => {
  const secs = [section(10, 1), section(400, 2), section(176, 3), section(12, 4)];
  const packets = packetize(secs);
  t.is(packets.length, 4); // 598 bytes of sections + pointers in 4 x 184
  t.deepEqual(packets.map((p) => parseTsHeader(p).cc), [0, 1, 2, 3]);
  const first = packets[0] as Uint8Array;
  t.deepEqual([...first.subarray(0, 5)], [0x47, 0x42, 0x00, 0x10, 0]); // PUSI, PID 0x200, payload only, pointer 0
  t.is(first[5 + 10], 0x3c, 'the second section starts right after the first');
  const last = packets[3] as Uint8Array;
  t.is(last[TS_PACKET - 1], 0xff);
  t.deepEqual(depacketize(packets).sections, secs);
  const many = packetize(Array.from({ length: 40 }, (_, i) => section(180, i)));
  t.deepEqual(many.slice(14, 18).map((p) => parseTsHeader(p).cc), [14, 15, 0, 1]);
});

test('property: any list of sections survives packetize -> depacketize unchanged', (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 3, max: 4096 }), { minLength: 1, maxLength: 30 }), (lens) => {
      const secs = lens.map((n, i) => section(n, i & 0x7f));
      const { sections, dp } = depacketize(packetize(secs));
      t.deepEqual(sections, secs);
      t.is(dp.stats().discontinuities, 0);
    }),
    { numRuns: 300 },
  );
});

test('a lost packet drops only the section it cut; a repeated packet is ignored', (t) => {
  const secs = Array.from({ length: 6 }, (_, i) => section(300, i));
  const packets = packetize(secs);
  const lossy = packets.filter((_, i) => i !== 3);
  const { sections, dp } = depacketize(lossy);
  t.is(dp.stats().discontinuities, 1);
  t.true(sections.length >= 4 && sections.length < 6);
  for (const s of sections) t.true(secs.some((x) => x.every((b, i) => b === s[i])));
  const dup = [...packets.slice(0, 2), packets[1] as Uint8Array, ...packets.slice(2)];
  const again = depacketize(dup);
  t.deepEqual(again.sections, secs);
  t.is(again.dp.stats().duplicates, 1);
});

test('adaptation fields are skipped; bad sync, TEI, scrambling and reserved AFC are CarouselErrors', (t) => {
  const p = packetize([section(100, 9)])[0] as Uint8Array;
  // Same payload behind a 10-byte adaptation field.
  const q = new Uint8Array(TS_PACKET).fill(0xff);
  q.set([0x47, 0x42, 0x00, 0x30, 9, 0x00]);
  q.set(p.subarray(4, 4 + TS_PACKET - 14), 14);
  t.deepEqual(depacketize([q]).sections, [section(100, 9)]);
  for (const [i, v, msg] of [[0, 0x46, /sync/], [1, 0xc2, /transport_error/], [3, 0x90, /scrambled/], [3, 0x00, /reserved/]] as const) {
    const bad = p.slice();
    bad[i] = v;
    t.throws(() => parseTsHeader(bad), { instanceOf: CarouselError, message: msg });
  }
  t.is(parseTsHeader(nullPacket()).pid, 0x1fff);
});

test('property: random packets on the PID give sections or nothing; headers fail only with CarouselError', (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ minLength: TS_PACKET, maxLength: TS_PACKET }), { maxLength: 20 }), (raw) => {
      const dp = new SectionDepacketizer(0x200);
      for (const r of raw) {
        r[0] = 0x47;
        r[1] = ((r[1] as number) & 0x40) | 0x02; // PID 0x200, TEI clear, random PUSI
        r[2] = 0x00;
        let h;
        try {
          h = parseTsHeader(r);
        } catch (e) {
          if (!(e instanceof CarouselError)) throw e;
          continue;
        }
        dp.push(r, h, (sec) => t.true(sec.length >= 3 && sec.length <= 4098));
      }
    }),
    { numRuns: 500 },
  );
  t.pass();
});
