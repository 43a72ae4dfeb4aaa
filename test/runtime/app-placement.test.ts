// The placement rule [c4-c7, c18]: services pin to the head-end, mutable modules follow the
// box's resource report, and head-end mutable modules are marked for a box-side proxy.
import test from 'ava';
import fc from 'fast-check';
import { ArgumentError } from '../../runtime/index.ts';
import { checkManifest, placeModules, type Manifest, type ModuleEntry } from '../../runtime/app/index.ts';

const HASH = 'b'.repeat(64);
const mod = (name: string, kind: ModuleEntry['kind'], extra: Partial<ModuleEntry> = {}): ModuleEntry => ({
  name, kind, tier: 'boot', file: `${name}.js`, sha256: HASH, size: 1, uses: kind === 'peer' ? ['services.epg'] : [], needs: {}, ...extra,
});
const app = (...modules: ModuleEntry[]): Manifest => checkManifest({ app: 'guide', version: '1.0.0', modules });
const box = { memory: 200_000, storage: 50_000, cpu: 'mid' as const };

test('client to the box, server and peer to the head-end', (t) => {
  const p = placeModules(app(mod('ui', 'client'), mod('core', 'server'), mod('epg', 'peer')), box);
  t.deepEqual(p, [
    { module: 'ui', side: 'box', reason: 'client-module', proxy: false },
    { module: 'core', side: 'headend', reason: 'server-module', proxy: false },
    { module: 'epg', side: 'headend', reason: 'pinned-by-service', proxy: false },
  ]);
});

test('[c5] a mutable module goes to the box only when the report covers its needs', (t) => {
  const m = app(mod('search', 'mutable', { needs: { memory: 100_000, storage: 10_000, cpu: 'mid' } }));
  t.like(placeModules(m, box)[0], { side: 'box', reason: 'box-has-resources', proxy: false });
  t.like(placeModules(m, { ...box, memory: 99_999 })[0], { side: 'headend', reason: 'box-lacks-memory', proxy: true });
  t.like(placeModules(m, { ...box, storage: 9_999 })[0], { side: 'headend', reason: 'box-lacks-storage', proxy: true });
  t.like(placeModules(m, { ...box, cpu: 'low' })[0], { side: 'headend', reason: 'box-lacks-cpu', proxy: true });
  t.like(placeModules(m, { ...box, cpu: 'high' })[0], { side: 'box' });
  t.like(placeModules(m, undefined)[0], { side: 'headend', reason: 'no-resource-report', proxy: true });
});

test('[c7] a mutable module bound to a head-end service is never placed on a box', (t) => {
  const m = app(mod('search', 'mutable', { uses: ['services.epg'] }));
  t.like(placeModules(m, { memory: 1e12, storage: 1e12, cpu: 'high' })[0], { side: 'headend', reason: 'pinned-by-service' });
});

test('mutable modules consume the reported resources in manifest order', (t) => {
  const m = app(mod('a', 'mutable', { needs: { memory: 120_000 } }), mod('b', 'mutable', { needs: { memory: 120_000 } }), mod('c', 'mutable', { needs: { memory: 80_000 } }));
  t.deepEqual(placeModules(m, box).map((p) => [p.module, p.side]), [['a', 'box'], ['b', 'headend'], ['c', 'box']]);
});

test('the box report is validated and unknown fields are refused by name', (t) => {
  const m = app(mod('ui', 'client'));
  t.is(t.throws(() => placeModules(m, { ...box, ram: 1 } as never), { instanceOf: ArgumentError })?.option, 'ram');
  t.is(t.throws(() => placeModules(m, { ...box, memory: -1 }), { instanceOf: ArgumentError })?.option, 'memory');
  t.is(t.throws(() => placeModules(m, { ...box, cpu: 'fast' } as never), { instanceOf: ArgumentError })?.option, 'cpu');
});

test('property: pinned modules never land on a box, and box placements fit the report', (t) => {
  const kinds = ['client', 'server', 'mutable', 'peer'] as const;
  const entry = fc.record({
    kind: fc.constantFrom(...kinds),
    service: fc.boolean(),
    memory: fc.nat(300_000),
    storage: fc.nat(100_000),
    cpu: fc.constantFrom('low', 'mid', 'high' as const),
  });
  fc.assert(
    fc.property(fc.array(entry, { minLength: 1, maxLength: 8 }), fc.record({ memory: fc.nat(500_000), storage: fc.nat(200_000), cpu: fc.constantFrom('low', 'mid', 'high' as const) }), (entries, report) => {
      const modules = entries.map((e, i) =>
        mod(`m${i}`, e.kind, { uses: e.kind === 'peer' || (e.kind !== 'client' && e.service) ? ['services.epg'] : [], needs: { memory: e.memory, storage: e.storage, cpu: e.cpu } }),
      );
      const placed = placeModules(app(...modules), report);
      let mem = 0;
      let sto = 0;
      placed.forEach((p, i) => {
        const m = modules[i]!;
        if (m.uses.length > 0 || m.kind === 'server' || m.kind === 'peer') t.is(p.side, 'headend');
        if (m.kind === 'client') t.is(p.side, 'box');
        if (m.kind === 'mutable' && p.side === 'box') {
          mem += m.needs.memory ?? 0;
          sto += m.needs.storage ?? 0;
        }
        t.is(p.proxy, m.kind === 'mutable' && p.side === 'headend');
      });
      t.true(mem <= report.memory && sto <= report.storage);
    }),
    { numRuns: 200 },
  );
});
