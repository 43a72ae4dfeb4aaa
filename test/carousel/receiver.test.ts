import test from 'ava';
import fc from 'fast-check';
import { ArgumentError } from '../../runtime/index.ts';
import { CarouselReceiver, type ReceiverEvent, encodeDdb, encodeDii, encodeDsi, makeModule } from '../../carousel/index.ts';
import { broadcaster, impairment, prng, randomBytes, run, sameBytes, smallApp, take } from './_app.ts';

const ALL = ['boot', 'fallback-1', 'fallback-2'] as const;

function expectModules(t: import('ava').ExecutionContext, rx: CarouselReceiver, set = smallApp(), tiers: readonly string[] = ALL): void {
  const want = set.modules.filter((m) => tiers.includes(m.tier));
  const got = rx.modules();
  t.is(got.length, want.length);
  for (const m of want) {
    const g = got.find((x) => x.name === m.name);
    t.truthy(g, m.name);
    t.true(g !== undefined && sameBytes(g.bytes, m.bytes) && g.sha256 === m.sha256 && g.kind === m.kind, m.name);
  }
}

test('joins mid-cycle at any point and acquires the boot tier only, verified', (t) => {
  for (const skip of [0, 1, 7, 13, 29, 55, 101]) {
    const b = broadcaster();
    take(b, skip);
    const rx = new CarouselReceiver();
    run(b, rx, 2000);
    t.true(rx.done, `skip ${skip}`);
    t.true(rx.tierDone('boot'));
    t.false(rx.tierDone('fallback-1'));
    expectModules(t, rx, smallApp(), ['boot']);
  }
});

test('loss, reordering and duplicates: every tier still arrives intact', (t) => {
  const b = broadcaster();
  const r = prng(5);
  const rx = new CarouselReceiver({ tiers: [...ALL] });
  // 5% lost, 3% duplicated, 4% delivered after the next one.
  const pulled = run(b, rx, 20_000, impairment(r, 0.05, 0.08, 0.12));
  t.true(rx.done, `after ${pulled} datagrams`);
  expectModules(t, rx);
  const s = rx.stats();
  t.true(s.discontinuities > 10);
  t.true(s.duplicateBlocks > 0);
});

test('FEC repairs lost blocks instead of waiting for the next lap', (t) => {
  const lossy = (d: Uint8Array, i: number): Uint8Array[] => (i % 9 === 4 ? [] : [d]); // ~11% datagram loss
  const events: ReceiverEvent[] = [];
  const withFec = new CarouselReceiver({ tiers: [...ALL], onEvent: (e) => events.push(e) });
  const n1 = run(broadcaster(), withFec, 20_000, lossy);
  const without = new CarouselReceiver({ tiers: [...ALL] });
  const n2 = run(broadcaster(smallApp(), { fec: false }), without, 20_000, lossy);
  t.true(withFec.done && without.done);
  expectModules(t, withFec);
  expectModules(t, without);
  t.true(withFec.stats().repairedBlocks > 0);
  t.true(events.some((e) => e.kind === 'module' && e.repaired));
  t.true(n1 < n2, `with FEC ${n1} datagrams, without ${n2}`);
});

test('corrupted bytes fail the CRC and are counted; acquisition still completes', (t) => {
  const b = broadcaster();
  const r = prng(9);
  const rx = new CarouselReceiver({ tiers: [...ALL] });
  run(b, rx, 20_000, (d) => {
    if (r() < 0.1) {
      const c = d.slice();
      const at = 4 + Math.floor(r() * 180); // inside the first packet's payload
      c[at] = (c[at] as number) ^ 0x5a;
      return [c];
    }
    return [d];
  });
  t.true(rx.done);
  t.true(rx.stats().badSections > 0);
  expectModules(t, rx);
});

test('a module whose bytes do not match the DII hash is refused with a corrupt event and started over', (t) => {
  const good = randomBytes(100, 1);
  const lie = makeModule('a.js', 'client', 'boot', randomBytes(100, 2)); // the DII promises other bytes
  const sha = Uint8Array.from(Buffer.from(lie.sha256, 'hex'));
  const events: ReceiverEvent[] = [];
  const rx = new CarouselReceiver({ onEvent: (e) => events.push(e) });
  const dii = encodeDii({ transactionId: 0x80000002, downloadId: 1, blockSize: 4066, modules: [{ id: 1, size: 100, version: 0, info: { name: 'a.js', kind: 'client', tier: 'boot', sha256: sha, appId: 'x', appVersion: '1' } }] });
  rx.pushSection(encodeDsi({ transactionId: 0x80000000, groups: [{ groupId: 0x80000002, size: 100, tier: 'boot' }], appId: 'x', appVersion: '1' }));
  rx.pushSection(dii);
  rx.pushSection(encodeDdb({ downloadId: 1, moduleId: 1, version: 0, block: 0, data: good }, 0));
  t.false(rx.done);
  t.is(rx.stats().corrupt, 1);
  const e = events.find((x) => x.kind === 'corrupt');
  t.is(e?.kind === 'corrupt' ? e.error.code : undefined, 13);
  rx.pushSection(encodeDdb({ downloadId: 1, moduleId: 1, version: 0, block: 0, data: lie.bytes }, 0));
  t.true(rx.done);
});

test('progress events rise to 1 per tier; module and tier events follow', (t) => {
  const events: ReceiverEvent[] = [];
  const rx = new CarouselReceiver({ tiers: [...ALL], onEvent: (e) => events.push(e) });
  run(broadcaster(), rx, 5000);
  for (const tier of ALL) {
    const p = events.filter((e): e is Extract<ReceiverEvent, { kind: 'progress' }> => e.kind === 'progress' && e.tier === tier);
    t.true(p.length >= 2, tier);
    for (let i = 1; i < p.length; i++) t.true((p[i]?.fraction ?? 0) >= (p[i - 1]?.fraction ?? 0), `${tier} progress never goes back`);
    t.is(p.at(-1)?.fraction, 1);
    t.is(p.at(-1)?.modulesDone, p.at(-1)?.modulesTotal);
  }
  const tiers = events.filter((e) => e.kind === 'tier').map((e) => (e.kind === 'tier' ? e.tier : ''));
  t.deepEqual([...tiers].sort(), [...ALL].sort());
  t.is(events.filter((e) => e.kind === 'module').length, smallApp().modules.length);
});

test('a version change mid-acquisition restarts only the changed module', (t) => {
  const v1 = smallApp(1, '1.0.0');
  const v2 = { ...v1, version: '1.0.1', modules: v1.modules.map((m) => (m.name === 'search.js' ? makeModule('search.js', 'mutable', 'fallback-1', randomBytes(25000, 77)) : m)) };
  const b = broadcaster(v1);
  const events: ReceiverEvent[] = [];
  const rx = new CarouselReceiver({ tiers: [...ALL], onEvent: (e) => events.push(e) });
  // Receive until the boot tier and part of fallback-1 are in, then republish.
  for (let i = 0; i < 400 && !rx.tierDone('boot'); i++) rx.push(b.nextDatagram() as Uint8Array);
  for (let i = 0; i < 3; i++) rx.push(b.nextDatagram() as Uint8Array);
  t.true(rx.tierDone('boot'));
  t.false(rx.done);
  b.update(v2);
  run(b, rx, 5000);
  t.true(rx.done);
  expectModules(t, rx, v2);
  const versions = events.filter((e): e is Extract<ReceiverEvent, { kind: 'version' }> => e.kind === 'version');
  t.is(versions.length, 1);
  t.deepEqual(versions[0]?.restarted, ['search.js']);
  t.deepEqual(versions[0]?.kept, []); // fallback-1 holds search.js alone
  // Boot modules were acquired once, not again after the update.
  t.is(events.filter((e) => e.kind === 'module' && e.module.name === 'ui.js').length, 1);
  t.is(events.filter((e) => e.kind === 'module' && e.module.name === 'search.js').length, 1);
});

test('republished mid-boot: the new manifest, signature and changed module restart; a half-received module is kept', (t) => {
  const v1 = smallApp(1, '1.0.0');
  const changed = new Set(['manifest.json', 'manifest.sig', 'keys.js']);
  const v2 = { ...v1, version: '1.1.0', modules: v1.modules.map((m, i) => (changed.has(m.name) ? makeModule(m.name, m.kind, m.tier, randomBytes(m.bytes.length + 10, 500 + i)) : m)) };
  const b = broadcaster(v1);
  const events: ReceiverEvent[] = [];
  const rx = new CarouselReceiver({ onEvent: (e) => events.push(e) });
  const done = (name: string): boolean => events.some((e) => e.kind === 'module' && e.module.name === name);
  for (let i = 0; i < 400 && !done('manifest.json'); i++) rx.push(b.nextDatagram() as Uint8Array);
  t.true(done('manifest.json'));
  t.false(done('ui.js'), 'ui.js (3 blocks) is still arriving when the update lands');
  b.update(v2);
  const version = (): Extract<ReceiverEvent, { kind: 'version' }> | undefined => events.find((e): e is Extract<ReceiverEvent, { kind: 'version' }> => e.kind === 'version');
  for (let i = 0; i < 5000 && !(rx.done && version() !== undefined); i++) rx.push(b.nextDatagram() as Uint8Array);
  t.true(rx.done);
  expectModules(t, rx, v2, ['boot']);
  t.deepEqual([...(version()?.restarted ?? [])].sort(), [...changed].sort());
  t.deepEqual(version()?.kept, ['ui.js']);
  t.is(events.filter((e) => e.kind === 'module' && e.module.name === 'ui.js').length, 1, 'ui.js completes once, from blocks received before and after the update');
});

test('warm boot: a cached module (by SHA-256) is used without waiting for its blocks', (t) => {
  const set = smallApp();
  const cache = new Map(set.modules.filter((m) => m.name === 'ui.js').map((m) => [m.sha256, m.bytes]));
  const events: ReceiverEvent[] = [];
  const rx = new CarouselReceiver({ cached: (sha) => cache.get(sha), onEvent: (e) => events.push(e) });
  run(broadcaster(set), rx, 2000);
  t.true(rx.done);
  expectModules(t, rx, set, ['boot']);
  const ui = events.find((e) => e.kind === 'module' && e.module.name === 'ui.js');
  t.true(ui?.kind === 'module' && ui.cached);
});

test('a tier split across several DII groups is complete only when every group is', (t) => {
  const modules = Array.from({ length: 80 }, (_, i) => makeModule(`module-with-a-rather-long-name-${i}.js`, 'client', 'boot', randomBytes(300 + i, i)));
  const set = { appId: 'big', version: '1', modules };
  const rx = new CarouselReceiver();
  run(broadcaster(set), rx, 5000);
  t.true(rx.done);
  expectModules(t, rx, set, ['boot']);
});

test('property: random and mutated datagrams never make the receiver throw', (t) => {
  const real = take(broadcaster(), 60);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 1400 }),
        fc.tuple(fc.nat(59), fc.array(fc.tuple(fc.nat(1315), fc.integer({ min: 0, max: 255 })), { maxLength: 8 })).map(([i, edits]) => {
          const d = real.slice(i * 1316, (i + 1) * 1316);
          for (const [at, v] of edits) d[at] = v;
          return d;
        }),
      ),
      (d) => {
        const rx = new CarouselReceiver({ tiers: [...ALL] });
        rx.push(real.subarray(0, 1316 * 20));
        rx.push(d);
        rx.push(real.subarray(1316 * 20));
        t.true(rx.stats().packets > 0);
      },
    ),
    { numRuns: 300 },
  );
});

test('receiver options are validated by name', (t) => {
  t.throws(() => new CarouselReceiver({ tier: ['boot'] } as never), { instanceOf: ArgumentError, message: /unknown option "tier"/ });
  t.throws(() => new CarouselReceiver({ tiers: ['fallback-3' as never] }), { instanceOf: ArgumentError });
  t.throws(() => new CarouselReceiver({ tiers: [] }), { instanceOf: ArgumentError });
});
