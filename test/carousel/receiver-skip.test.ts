// A block of a module the receiver has no use for (done, or of a tier it did not ask for) is
// dropped by its header before the CRC and the decode (issue 18 build 6: under qemu-user a warm box
// spent ~1 ms of CPU per carousel datagram, ~0.2 s a second at 2 Mbit/s, checking blocks it then
// threw away). Seen here through a block whose CRC is broken: dropped as not needed, not decoded.
// Everything else still goes through the CRC: blocks it wants, of unknown modules or other versions.
import test from 'ava';
import { CarouselReceiver, encodeDdb, encodeDii, encodeDsi, makeModule } from '../../carousel/index.ts';
import { randomBytes } from './_app.ts';

const BLOCK = 4066;
const ui = makeModule('ui.js', 'client', 'boot', randomBytes(100, 1));
const epg = makeModule('epg.js', 'client', 'fallback-2', randomBytes(100, 2));
const news = makeModule('news.js', 'client', 'boot', randomBytes(BLOCK + 100, 3)); // two blocks

const info = (m: typeof ui) => ({ name: m.name, kind: m.kind, tier: m.tier, sha256: Uint8Array.from(Buffer.from(m.sha256, 'hex')), appId: 'guide', appVersion: '1.0.0' });

/** A receiver of the boot tier that knows ui.js (id 1, done), epg.js (id 2, not wanted), news.js (id 3, one block of two in). */
function receiver(): CarouselReceiver {
  const rx = new CarouselReceiver({ tiers: ['boot'] });
  rx.pushSection(encodeDsi({ transactionId: 0x80000000, appId: 'guide', appVersion: '1.0.0', groups: [{ groupId: 0x80000002, size: 1000, tier: 'boot' }] }));
  const modules = [ui, epg, news].map((m, i) => ({ id: i + 1, size: m.bytes.length, version: 4, info: info(m) }));
  rx.pushSection(encodeDii({ transactionId: 0x80000002, downloadId: 7, blockSize: BLOCK, modules }));
  rx.pushSection(ddb(1, 4, 0, ui.bytes));
  rx.pushSection(ddb(3, 4, 0, news.bytes.subarray(0, BLOCK), 1));
  return rx;
}

function ddb(moduleId: number, version: number, block: number, data: Uint8Array, lastBlock = 0): Uint8Array {
  return encodeDdb({ downloadId: 7, moduleId, version, block, data }, lastBlock);
}

/** The same section with its CRC broken. */
function broken(s: Uint8Array): Uint8Array {
  const b = s.slice();
  b[b.length - 1] = (b[b.length - 1] as number) ^ 0xff;
  return b;
}

test('a block of a module that is done, or not wanted, is dropped by its header before the CRC', (t) => {
  const rx = receiver();
  t.true(rx.modules().some((m) => m.name === 'ui.js'), 'ui.js is in');
  const before = rx.stats();
  rx.pushSection(broken(ddb(1, 4, 0, ui.bytes))); // done
  rx.pushSection(broken(ddb(2, 4, 0, epg.bytes))); // fallback-2: not asked for
  const s = rx.stats();
  t.is(s.badSections, before.badSections, 'not decoded: the broken CRC was never checked');
  t.is(s.duplicateBlocks, before.duplicateBlocks + 2, 'counted as blocks not needed, as the decoded path counts them');
  t.is(s.blocks, before.blocks + 2);
});

test('blocks it still wants, and blocks of unknown modules or versions, go through the CRC', (t) => {
  const rx = receiver();
  const before = rx.stats();
  rx.pushSection(broken(ddb(3, 4, 1, news.bytes.subarray(BLOCK), 1))); // news.js, wanted, not done
  rx.pushSection(broken(ddb(9, 4, 0, epg.bytes))); // no DII names module 9
  rx.pushSection(broken(ddb(1, 5, 0, ui.bytes))); // ui.js, another version
  t.is(rx.stats().badSections, before.badSections + 3, 'all three checked and refused');
  t.false(rx.modules().some((m) => m.name === 'news.js'), 'news.js is not in yet');
  rx.pushSection(ddb(3, 4, 1, news.bytes.subarray(BLOCK), 1));
  t.true(rx.modules().some((m) => m.name === 'news.js'), 'the good block completes news.js');
});

test('a section too short to hold a block header is decoded, and refused, as before', (t) => {
  const rx = receiver();
  const before = rx.stats().badSections;
  const s = ddb(1, 4, 0, ui.bytes).subarray(0, 20); // table_id, module 1, but cut inside its header
  rx.pushSection(s);
  t.is(rx.stats().badSections, before + 1);
});
