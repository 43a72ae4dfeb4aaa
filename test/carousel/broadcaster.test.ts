import test from 'ava';
import { ArgumentError } from '../../runtime/index.ts';
import { Broadcaster, type DdbMessage, type DiiMessage, type DsiMessage, dumpCycle, makeModule } from '../../carousel/index.ts';
import { broadcaster, messages, randomBytes, smallApp, take } from './_app.ts';

test('stream time follows the bitrate: 7 packets of 188 bytes per datagram, 10.528 ms at 2 Mbit/s', (t) => {
  const b = broadcaster();
  t.is(b.datagramMs, (7 * 188 * 8 * 1000) / 2_000_000);
  for (let i = 0; i < 10; i++) t.is(b.nextDatagram()?.length, 7 * 188);
  t.is(b.packetIndex, 70);
  t.is(b.timeMs, (70 * 188 * 8 * 1000) / 2_000_000);
});

test('PAT, PMT, DSI and boot DIIs every diiIntervalMs; fallback DIIs every fallbackDiiIntervalMs', (t) => {
  const b = broadcaster(smallApp(), { diiIntervalMs: 200, fallbackDiiIntervalMs: 600 });
  const seconds = 3;
  const ts = take(b, Math.round((seconds * 1000) / b.datagramMs));
  const msgs = messages(ts);
  const dsi = msgs.filter((m) => m.msg.type === 'dsi');
  t.is(dsi.length, seconds * 5);
  const gaps = dsi.slice(1).map((m, i) => ((m.at - (dsi[i] as { at: number }).at) * 188 * 8) / 2000);
  for (const g of gaps) t.true(Math.abs(g - 200) < 25, `DSI gap ${g} ms`);
  const groups = (dsi[0]?.msg as DsiMessage).groups;
  const diiCount = (tier: string): number =>
    msgs.filter((m) => m.msg.type === 'dii' && groups.find((g) => g.groupId === (m.msg as DiiMessage).transactionId)?.tier === tier).length;
  t.is(diiCount('boot'), 15);
  t.is(diiCount('fallback-1'), 5);
  t.is(diiCount('fallback-2'), 5);
  let pats = 0;
  for (let i = 0; i < ts.length; i += 188) if (ts[i + 1] === 0x40 && ts[i + 2] === 0x00) pats++;
  t.is(pats, 15);
});

test('per-tier repetition: the boot tier gets repeat x its airtime of the data bandwidth', (t) => {
  const b = broadcaster(smallApp(), { repeat: { boot: 4, 'fallback-1': 1, 'fallback-2': 1 }, fec: false });
  const ts = take(b, 3000);
  const ddb = messages(ts).filter((m) => m.msg.type === 'ddb').map((m) => m.msg as DdbMessage);
  const byTier = (ids: number[]): number => ddb.filter((d) => ids.includes(d.moduleId)).reduce((n, d) => n + d.data.length + 30, 0);
  const desc = b.describe();
  const ids = (tier: string): number[] => desc.groups.filter((g) => g.tier === tier).flatMap((g) => g.modules.map((m) => m.id));
  const boot = byTier(ids('boot'));
  const rest = byTier(ids('fallback-1')) + byTier(ids('fallback-2'));
  // Airtime per copy: boot ~ 4 blocks (14.3 KB), fallbacks ~ 9 blocks (33 KB): boot share = 4*14.3 / (4*14.3 + 33).
  const sizes = (tier: string): number => desc.groups.filter((g) => g.tier === tier).flatMap((g) => g.modules).reduce((n, m) => n + m.size + 30 * Math.ceil(m.size / 4066), 0);
  const expected = (4 * sizes('boot')) / (4 * sizes('boot') + sizes('fallback-1') + sizes('fallback-2'));
  t.true(Math.abs(boot / (boot + rest) - expected) < 0.02, `boot share ${boot / (boot + rest)} vs ${expected}`);
});

test('plain schedule: every module once per cycle, in order', (t) => {
  const b = broadcaster(smallApp(), { schedule: 'plain', fec: false });
  const ddb = messages(take(b, 400)).filter((m) => m.msg.type === 'ddb').map((m) => m.msg as DdbMessage);
  const cycle = b.describe().groups.flatMap((g) => g.modules.flatMap((m) => Array.from({ length: Math.ceil(m.size / 4066) }, (_, i) => `${m.id}/${i}`)));
  const seen = ddb.map((d) => `${d.moduleId}/${d.block}`);
  t.deepEqual(seen.slice(0, cycle.length * 2), [...cycle, ...cycle]);
});

test('republishing bumps transactionIds and changed modules only; the old version stops before the new one starts', (t) => {
  const v1 = smallApp(1, '1.0.0');
  const b = broadcaster(v1);
  const before = b.describe();
  const ts1 = take(b, 100);
  const v2 = { ...v1, version: '1.0.1', modules: v1.modules.map((m) => (m.name === 'search.js' ? makeModule('search.js', 'mutable', 'fallback-1', randomBytes(21000, 99)) : m)) };
  b.update(v2);
  const after = b.describe();
  const ts2 = take(b, 400);
  const mod = (d: typeof before, name: string) => d.groups.flatMap((g) => g.modules).find((m) => m.name === name);
  t.is(mod(after, 'search.js')?.version, (mod(before, 'search.js')?.version ?? 0) + 1);
  t.is(mod(after, 'search.js')?.id, mod(before, 'search.js')?.id, 'a module keeps its id across versions');
  t.is(mod(after, 'ui.js')?.version, mod(before, 'ui.js')?.version);
  t.not(after.dsiTransactionId, before.dsiTransactionId);
  t.is((after.dsiTransactionId >>> 16) & 0x3fff, ((before.dsiTransactionId >>> 16) & 0x3fff) + 1);
  const txids = (d: typeof before) => Object.fromEntries(d.groups.map((g) => [g.tier, g.transactionId]));
  t.is(txids(after).boot, txids(before).boot, 'an unchanged group keeps its DII');
  t.not(txids(after)['fallback-1'], txids(before)['fallback-1']);
  // On the wire: after the first new DSI, no DDB of an old version of a changed module.
  const msgs = messages(Buffer.concat([ts1, ts2]));
  const switchAt = msgs.findIndex((m) => m.msg.type === 'dsi' && m.msg.transactionId === after.dsiTransactionId);
  t.true(switchAt > 0);
  const changedIds = new Set(after.groups.flatMap((g) => g.modules).filter((m) => m.version !== mod(before, m.name)?.version).map((m) => m.id));
  t.true(changedIds.size >= 2, 'search.js and its group repair module');
  const versionAfter = new Map(after.groups.flatMap((g) => g.modules).map((m) => [m.id, m.version]));
  for (const m of msgs.slice(switchAt)) {
    if (m.msg.type === 'ddb' && changedIds.has(m.msg.moduleId)) t.is(m.msg.version as number | undefined, versionAfter.get(m.msg.moduleId));
    if (m.msg.type === 'dsi') t.is(m.msg.transactionId, after.dsiTransactionId);
  }
  for (const m of msgs.slice(0, switchAt)) if (m.msg.type === 'dsi') t.is(m.msg.transactionId, before.dsiTransactionId);
});

test('dumpCycle carries every block of every module, starting with PAT, PMT, DSI', (t) => {
  const ts = dumpCycle(smallApp());
  t.is(ts.length % 188, 0);
  t.deepEqual([ts[0], ts[1], ts[2]], [0x47, 0x40, 0x00]);
  const msgs = messages(ts);
  t.is(msgs[0]?.msg.type, 'dsi');
  const seen = new Set(msgs.filter((m) => m.msg.type === 'ddb').map((m) => `${(m.msg as DdbMessage).moduleId}/${(m.msg as DdbMessage).block}`));
  for (const g of new Broadcaster(smallApp()).describe().groups) {
    for (const m of g.modules) for (let i = 0; i < Math.ceil(m.size / 4066); i++) t.true(seen.has(`${m.id}/${i}`), `${m.name} block ${i}`);
  }
});

test('many modules in a tier split into several DII groups, each fitting one section', (t) => {
  const modules = Array.from({ length: 80 }, (_, i) => makeModule(`module-with-a-rather-long-name-${i}.js`, 'client', 'boot', randomBytes(100, i)));
  const b = broadcaster({ appId: 'big', version: '1', modules });
  const groups = b.describe().groups;
  t.true(groups.length >= 2);
  t.true(groups.every((g) => g.tier === 'boot'));
  t.is(groups.flatMap((g) => g.modules.filter((m) => !m.fec)).length, 80);
});

test('options are validated and unknown ones refused by name', (t) => {
  t.throws(() => new Broadcaster(smallApp(), { bitrat: 1 } as never), { instanceOf: ArgumentError, message: /unknown option "bitrat"/ });
  t.throws(() => new Broadcaster(smallApp(), { repeat: { boot: 0 } }), { instanceOf: ArgumentError });
  t.throws(() => new Broadcaster(smallApp(), { repeat: { boots: 2 } as never }), { instanceOf: ArgumentError });
  t.throws(() => new Broadcaster(smallApp(), { blockSize: 5000 }), { instanceOf: ArgumentError });
  t.throws(() => new Broadcaster(smallApp(), { pid: 0x100 }), { instanceOf: ArgumentError });
  t.throws(() => new Broadcaster({ appId: 'x', version: '1', modules: [{ name: 'a', kind: 'client', tier: 'boot', bytes: new Uint8Array(1), sha256: '0'.repeat(64) }] }), { instanceOf: ArgumentError });
});
