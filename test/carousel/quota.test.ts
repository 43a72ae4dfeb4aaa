import test from 'ava';
import { ArgumentError } from '../../runtime/index.ts';
import { CarouselReceiver, type ReceiverEvent, encodeDdb, encodeDii, encodeDsi } from '../../carousel/index.ts';
import { broadcaster, run, smallApp } from './_app.ts';

const MB = 1024 * 1024;
const BLOCK = 4066;
const SHA = new Uint8Array(32).fill(7);

function bombDii(transactionId: number, count: number, size: number, version = 0): Uint8Array {
  const modules = Array.from({ length: count }, (_, i) => ({
    id: i + 1,
    size,
    version,
    info: { name: `m${i}.js`, kind: 'client' as const, tier: 'boot' as const, sha256: SHA, appId: 'x', appVersion: '1' },
  }));
  return encodeDii({ transactionId, downloadId: 1, blockSize: BLOCK, modules });
}

function block(moduleId: number, n: number, version = 0): Uint8Array {
  return encodeDdb({ downloadId: 1, moduleId, version, block: n, data: new Uint8Array(BLOCK).fill(n & 0xff) }, 0xffff);
}

test('a DII announcing more than the quota is refused at the DII and no block of it is kept (issue 12, finding 6)', (t) => {
  const events: ReceiverEvent[] = [];
  const rx = new CarouselReceiver({ maxHeldBytes: 4 * MB, onEvent: (e) => events.push(e) });
  rx.pushSection(encodeDsi({ transactionId: 0x80000000, groups: [{ groupId: 0x80000002, size: 60 * 266_000_000, tier: 'boot' }], appId: 'x', appVersion: '1' }));
  rx.pushSection(bombDii(0x80000002, 60, 266_000_000));
  // Refused at the DII: before a single block arrived.
  const refusal = events.find((e) => e.kind === 'over-quota');
  t.truthy(refusal, 'the DII itself is refused');
  t.is(rx.stats().quotaRefused, 1);
  t.is(rx.stats().heldBytes, 0);
  // 72 MiB of blocks for the refused modules: none kept.
  const per = Math.ceil((72 * MB) / BLOCK / 60);
  for (let n = 0; n < per; n++) for (let id = 1; id <= 60; id++) rx.pushSection(block(id, n));
  t.is(rx.stats().heldBytes, 0);
  t.true(rx.stats().refusedBlocks >= per * 60);
  t.is(rx.stats().quotaRefused, 1, 'the same DII repeated each cycle is refused once');
  rx.pushSection(bombDii(0x80000002, 60, 266_000_000));
  t.is(rx.stats().quotaRefused, 1);
});

test('blocks before their DII count against the same quota', (t) => {
  const rx = new CarouselReceiver({ maxHeldBytes: 1 * MB });
  for (let n = 0; n < 1000; n++) rx.pushSection(block(1 + (n % 7), n)); // ~4 MiB of early blocks
  t.true(rx.stats().heldBytes <= 1 * MB, `held ${rx.stats().heldBytes}`);
  t.true(rx.stats().heldBytes > 0);
});

test('an app within the quota is acquired; its bytes are held and accounted', (t) => {
  const set = smallApp();
  const total = set.modules.reduce((a, m) => a + m.bytes.length, 0);
  const rx = new CarouselReceiver({ tiers: ['boot', 'fallback-1', 'fallback-2'], maxHeldBytes: 1 * MB });
  run(broadcaster(set), rx);
  t.true(rx.done);
  t.is(rx.stats().quotaRefused, 0);
  t.true(rx.stats().heldBytes >= total, `held ${rx.stats().heldBytes} of ${total}`);
  t.true(rx.stats().heldBytes <= 1 * MB);
});

test('an app bigger than the quota is refused at the DII, with the numbers in the event', (t) => {
  const events: ReceiverEvent[] = [];
  const rx = new CarouselReceiver({ maxHeldBytes: 8000, onEvent: (e) => events.push(e) });
  run(broadcaster(), rx, 3000);
  t.false(rx.done);
  const e = events.find((x) => x.kind === 'over-quota');
  t.true(e?.kind === 'over-quota' && e.quotaBytes === 8000 && e.bytes > 8000 && e.modules.length > 0);
  t.true(rx.stats().heldBytes <= 8000);
});

test('a superseded module releases its bytes; a refused DII releases the group it replaced', (t) => {
  const rx = new CarouselReceiver({ maxHeldBytes: 1 * MB });
  rx.pushSection(encodeDsi({ transactionId: 0x80000000, groups: [{ groupId: 0x80000002, size: 0, tier: 'boot' }], appId: 'x', appVersion: '1' }));
  rx.pushSection(bombDii(0x80000002, 2, 100_000));
  t.is(rx.stats().heldBytes, 200_000);
  rx.pushSection(bombDii(0x80010002, 2, 50_000, 1)); // a new version of the same group
  t.is(rx.stats().heldBytes, 100_000);
  rx.pushSection(bombDii(0x80020002, 2, 900_000, 2)); // over the quota: refused, and the old group gone
  t.is(rx.stats().heldBytes, 0);
  t.is(rx.stats().quotaRefused, 1);
  rx.pushSection(encodeDsi({ transactionId: 0x80000010, groups: [], appId: 'x', appVersion: '2' }));
  t.is(rx.stats().heldBytes, 0);
});

test('a group dropped by the DSI releases its bytes', (t) => {
  const rx = new CarouselReceiver({ maxHeldBytes: 1 * MB });
  rx.pushSection(encodeDsi({ transactionId: 0x80000000, groups: [{ groupId: 0x80000002, size: 0, tier: 'boot' }], appId: 'x', appVersion: '1' }));
  rx.pushSection(bombDii(0x80000002, 3, 10_000));
  t.is(rx.stats().heldBytes, 30_000);
  rx.pushSection(encodeDsi({ transactionId: 0x80000010, groups: [], appId: 'x', appVersion: '2' }));
  t.is(rx.stats().heldBytes, 0);
});

test('maxHeldBytes is validated', (t) => {
  t.throws(() => new CarouselReceiver({ maxHeldBytes: 0 }), { instanceOf: ArgumentError });
  t.throws(() => new CarouselReceiver({ maxHeldBytes: -1 }), { instanceOf: ArgumentError });
});
