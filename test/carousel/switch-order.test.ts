// [issue 15] After a version switch the blocks of the modules that changed go first: a receiver
// holding the old version takes the new one after a few datagrams, not after every unchanged
// block ahead of the change in the ring (the rollout's directive and next/ manifest came last,
// ~1.5 carousel cycles after the switch). Counted in datagrams: stream time, no clock.
import test from 'ava';
import { CarouselReceiver, type DdbMessage, makeModule, type ModuleSet } from '../../carousel/index.ts';
import { broadcaster, messages, randomBytes, run, take } from './_app.ts';

/** A boot tier of large unchanged modules, then a small one that changes (as a rollout's directive). */
function app(directiveSeed: number): ModuleSet {
  return {
    appId: 'guide',
    version: '1.0.0',
    modules: [
      makeModule('manifest.json', 'manifest', 'boot', randomBytes(1200, 1)),
      makeModule('manifest.sig', 'signature', 'boot', randomBytes(64, 2)),
      makeModule('ui.js', 'client', 'boot', randomBytes(40_000, 3)),
      makeModule('keys.js', 'client', 'boot', randomBytes(12_000, 4)),
      makeModule('search.js', 'mutable', 'fallback-1', randomBytes(30_000, 5)),
      makeModule('rollout.json', 'data', 'boot', randomBytes(300, directiveSeed)),
    ],
  };
}

/** Datagrams after `update` until the receiver has every boot module of the new version. */
function datagramsToTake(schedule: 'tiered' | 'plain'): { n: number; unchangedBootDatagrams: number } {
  const b = broadcaster(app(10), { schedule });
  const rx = new CarouselReceiver({ tiers: ['boot'] });
  run(b, rx);
  if (!rx.done) throw new Error('the first version never completed');
  let took = false;
  const rx2 = rx; // the same receiver: it keeps what did not change
  const seen = new Set<number>();
  b.update(app(11));
  const dsi = b.describe().dsiTransactionId;
  let n = 0;
  for (; n < 2_000 && !took; n++) {
    const d = b.nextDatagram() as Uint8Array;
    rx2.push(d);
    for (const m of messages(d)) if (m.msg.type === 'dsi') seen.add(m.msg.transactionId);
    took = seen.has(dsi) && rx2.done;
  }
  // Airtime of the boot tier's unchanged blocks: what the old order sent before the change.
  const unchanged = b.describe().groups.filter((g) => g.tier === 'boot').flatMap((g) => g.modules).filter((m) => !m.fec && m.name !== 'rollout.json');
  const bytes = unchanged.reduce((s, m) => s + m.size, 0);
  return { n, unchangedBootDatagrams: Math.floor(bytes / (7 * 188)) };
}

for (const schedule of ['tiered', 'plain'] as const) {
  test(`${schedule}: a receiver holding the old version takes a changed module within a few datagrams of the switch`, (t) => {
    const { n, unchangedBootDatagrams } = datagramsToTake(schedule);
    t.true(unchangedBootDatagrams > 30, `the unchanged boot blocks take ${unchangedBootDatagrams} datagrams`);
    t.true(n <= 6, `took the new version after ${n} datagrams (the unchanged boot blocks are ${unchangedBootDatagrams})`);
  });
}

test('after the changed blocks every block still goes out once per lap, in the ring order', (t) => {
  const b = broadcaster(app(10), { schedule: 'plain', fec: false });
  take(b, 200);
  b.update(app(11));
  const ts = take(b, 400);
  const ddb = messages(ts).filter((m) => m.msg.type === 'ddb').map((m) => m.msg as DdbMessage);
  const mods = b.describe().groups.flatMap((g) => g.modules);
  const id = (name: string): number => mods.find((m) => m.name === name)?.id ?? -1;
  t.is(ddb[0]?.moduleId, id('rollout.json'), 'the changed module first');
  const lap = mods.reduce((s, m) => s + Math.ceil(m.size / 4066), 0);
  const first = ddb.slice(0, lap).map((d) => `${d.moduleId}.${d.block}`);
  t.is(new Set(first).size, lap, 'one lap: every block once');
  t.deepEqual(ddb.slice(lap, 2 * lap).map((d) => `${d.moduleId}.${d.block}`), first, 'the next lap in the same order');
});
