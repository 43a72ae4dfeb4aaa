import test from 'ava';
import fc from 'fast-check';
import {
  CarouselError,
  MAX_BLOCK_SIZE,
  crc32mpeg2,
  decodeModuleInfo,
  decodeSection,
  encodeDdb,
  encodeDii,
  encodeDsi,
  encodeModuleInfo,
  type ModuleInfo,
} from '../../carousel/index.ts';

const sha = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
const info = (name: string, extra: Partial<ModuleInfo> = {}): ModuleInfo => ({ name, kind: 'client', tier: 'boot', sha256: sha, appId: 'guide', appVersion: '2.1', ...extra });
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('CRC-32/MPEG-2 of "123456789" is 0x0376E6E7, and a section with its CRC checks to 0', (t) => {
  t.is(crc32mpeg2(new TextEncoder().encode('123456789')), 0x0376e6e7);
  const s = encodeDdb({ downloadId: 1, moduleId: 2, version: 3, block: 0, data: Uint8Array.of(1, 2, 3) }, 0);
  t.is(crc32mpeg2(s), 0);
});

test('DDB section: golden bytes pin the layout (table 0x3C, ext = moduleId, version mod 32, block mod 256, last capped at 255)', (t) => {
  const s = encodeDdb({ downloadId: 0xa1b2c3d4, moduleId: 0x0102, version: 33, block: 0x0105, data: Uint8Array.of(0xde, 0xad) }, 0x0107);
  t.is(
    hex(s),
    // section header: 3c b0 1d (length 29) | ext 0102 | c3 (version 33 mod 32 = 1) | sect 05 | last ff
    '3cb01d0102c305ff' +
      // dsmccDownloadDataHeader: 11 03 1003 a1b2c3d4 ff 00 0008
      '11031003a1b2c3d4ff000008' +
      // moduleId 0102, version 21, reserved ff, block 0105, data dead
      '010221ff0105dead' +
      hex(s.subarray(s.length - 4)),
  );
  t.deepEqual(decodeSection(s), { type: 'ddb', downloadId: 0xa1b2c3d4, moduleId: 0x0102, version: 33, block: 0x0105, data: Uint8Array.of(0xde, 0xad) });
});

test('DII round trip: modules with Weft moduleInfo, compatibility descriptor, block size', (t) => {
  const m = {
    transactionId: 0x80010002,
    downloadId: 77,
    blockSize: 4066,
    compat: { oui: 0x00abcd, model: 0x5746, version: 1 },
    modules: [
      { id: 1, size: 900, version: 0, info: info('manifest.json', { kind: 'manifest' }) },
      { id: 2, size: 123456, version: 255, info: info('ui.js') },
      { id: 9, size: 4066 * 3, version: 4, info: info('fec:boot:1', { kind: 'fec', fec: { scheme: 1, covered: [1, 2], blocks: [{ k: 32, r: 3 }] } }) },
    ],
  };
  const d = decodeSection(encodeDii(m));
  t.deepEqual(d, { type: 'dii', ...m });
});

test('DSI round trip: groups with tiers, app descriptor; transactionId low 16 bits in the extension', (t) => {
  const m = {
    transactionId: 0x80050000,
    groups: [
      { groupId: 0x80050002, size: 10000, tier: 'boot' as const },
      { groupId: 0x80020004, size: 5, tier: 'fallback-2' as const },
    ],
    appId: 'guide',
    appVersion: '2.1',
    compat: { oui: 0, model: 0x5746, version: 1 },
  };
  const s = encodeDsi(m);
  t.is((s[3] as number) * 256 + (s[4] as number), 0x0000);
  t.deepEqual(decodeSection(s), { type: 'dsi', ...m });
});

test('moduleInfo is at most 255 bytes and keeps unicode names; other descriptors are skipped', (t) => {
  const i = info('ガイド.js');
  const bytes = encodeModuleInfo(i);
  t.true(bytes.length <= 255);
  t.deepEqual(decodeModuleInfo(Uint8Array.of(0x01, 2, 0x41, 0x42, ...bytes)), i); // a DVB type_descriptor first
  t.throws(() => encodeModuleInfo(info('x'.repeat(65))), { instanceOf: CarouselError });
  t.throws(() => decodeModuleInfo(Uint8Array.of(0x02, 1, 0x41)), { instanceOf: CarouselError, message: /lacks/ });
});

test('a DII promising a module of more than 65536 blocks is refused (blockNumber is 16 bits)', (t) => {
  const dii = (size: number) => encodeDii({ transactionId: 0x80000002, downloadId: 1, blockSize: 100, modules: [{ id: 1, size, version: 0, info: info('a.js') }] });
  t.is((decodeSection(dii(100 * 65536)) as { modules: unknown[] }).modules.length, 1);
  t.throws(() => decodeSection(dii(100 * 65536 + 1)), { instanceOf: CarouselError, message: /65536 blocks/ });
});

test('a largest block fits one 4096-byte section; one byte more is refused', (t) => {
  const s = encodeDdb({ downloadId: 1, moduleId: 1, version: 0, block: 0, data: new Uint8Array(MAX_BLOCK_SIZE) }, 0);
  t.is(s.length, 4096);
  t.throws(() => encodeDdb({ downloadId: 1, moduleId: 1, version: 0, block: 0, data: new Uint8Array(MAX_BLOCK_SIZE + 1) }, 0), { instanceOf: CarouselError });
});

test('every flipped bit of a DII is caught (CRC or structure) as a CarouselError', (t) => {
  const s = encodeDii({ transactionId: 0x80000002, downloadId: 5, blockSize: 1000, modules: [{ id: 3, size: 10, version: 1, info: info('a.js') }] });
  for (let bit = 0; bit < s.length * 8; bit++) {
    const m = s.slice();
    m[bit >> 3] = (m[bit >> 3] as number) ^ (1 << (bit & 7));
    const e = t.throws(() => decodeSection(m));
    t.true(e instanceof CarouselError, `bit ${bit}: ${String(e)}`);
  }
});

test('property: random bytes decode to a message or a CarouselError, never anything else', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.constantFrom(0x3b, 0x3c, 0x00), (bytes, tid) => {
      const s = bytes.slice();
      if (s.length > 0) s[0] = tid;
      try {
        decodeSection(s);
      } catch (e) {
        if (!(e instanceof CarouselError)) throw e;
      }
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('property: mutated valid sections with a recomputed CRC still give a message or a CarouselError', (t) => {
  const valid = [
    encodeDii({ transactionId: 0x80000002, downloadId: 5, blockSize: 1000, modules: [{ id: 3, size: 10, version: 1, info: info('a.js', { kind: 'fec', fec: { scheme: 1, covered: [3], blocks: [{ k: 1, r: 1 }] } }) }] }),
    encodeDsi({ transactionId: 0x80000000, groups: [{ groupId: 0x80000002, size: 10, tier: 'boot' }], appId: 'guide', appVersion: '1' }),
    encodeDdb({ downloadId: 1, moduleId: 7, version: 2, block: 1, data: new Uint8Array(50) }, 3),
  ];
  fc.assert(
    fc.property(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (s, edits) => {
      const m = s.slice();
      for (const [at, v] of edits) m[at % (m.length - 4)] = v;
      const crc = crc32mpeg2(m, 0, m.length - 4); // re-seal so the parser, not the CRC, must cope
      m.set([crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff], m.length - 4);
      try {
        const d = decodeSection(m);
        t.true(['dsi', 'dii', 'ddb'].includes(d.type));
      } catch (e) {
        if (!(e instanceof CarouselError)) throw e;
      }
    }),
    { numRuns: 3000 },
  );
  t.pass();
});
