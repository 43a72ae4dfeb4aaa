// Manifest schema: valid manifests round-trip through the canonical bytes; every kind of
// invalid input is refused with a ManifestError that names the offending field.
import test from 'ava';
import { checkManifest, decodeManifest, encodeManifest, ManifestError, type Manifest } from '../../runtime/app/index.ts';

const HASH = 'a'.repeat(64);

function manifest(): Manifest {
  return {
    app: 'guide',
    version: '1.2.0',
    modules: [
      { name: 'ui', kind: 'client', tier: 'boot', file: 'ui.js', sha256: HASH, size: 10, uses: ['ui', 'storage'], needs: {} },
      { name: 'search', kind: 'mutable', tier: 'fallback-1', file: 'search.js', sha256: HASH, size: 20, uses: [], needs: { memory: 65536, cpu: 'mid' } },
      { name: 'epg', kind: 'peer', tier: 'boot', file: 'epg.js', sha256: HASH, size: 30, uses: ['services.epg'], needs: {} },
    ],
  };
}

type Entry = Record<string, unknown> & { needs: Record<string, unknown>; uses: unknown[] };
type Loose = Record<string, unknown> & { modules: Entry[] };

function refused(t: import('ava').ExecutionContext, mutate: (m: Loose) => void, field: string, words: RegExp): void {
  const m = structuredClone(manifest()) as unknown as Loose;
  mutate(m);
  const err = t.throws(() => checkManifest(m), { instanceOf: ManifestError });
  t.is(err?.field, field);
  t.regex(err?.message ?? '', words);
}

test('a valid manifest is returned as a canonical copy', (t) => {
  const m = manifest();
  const out = checkManifest(m);
  t.deepEqual(out, m);
  t.not(out, m);
  t.not(out.modules[0], m.modules[0]);
});

test('encode/decode round-trips and key order is canonical whatever the input order', (t) => {
  const m = manifest();
  const shuffled = { modules: m.modules.map((e) => ({ needs: e.needs, uses: e.uses, size: e.size, sha256: e.sha256, file: e.file, tier: e.tier, kind: e.kind, name: e.name })), version: m.version, app: m.app };
  const a = encodeManifest(m);
  const b = encodeManifest(shuffled as Manifest);
  t.deepEqual(a, b);
  t.deepEqual(decodeManifest(a), m);
  t.true(new TextDecoder().decode(a).startsWith('{\n  "app": "guide",\n  "version": "1.2.0",'));
});

test('unknown keys are refused by name at every level', (t) => {
  refused(t, (m) => (m.signer = 'x'), 'signer', /unknown key/);
  refused(t, (m) => (m.modules[1]!.entry = 'x'), 'modules[1].entry', /unknown key/);
  refused(t, (m) => (m.modules[1]!.needs.gpu = 1), 'modules[1].needs.gpu', /unknown key/);
});

test('each field is checked and named', (t) => {
  refused(t, (m) => (m.app = 'Guide'), 'app', /not valid/);
  refused(t, (m) => (m.version = '1.2'), 'version', /major\.minor\.patch/);
  refused(t, (m) => (m.modules = []), 'modules', /at least one/);
  refused(t, (m) => ((m as Record<string, unknown>).modules = 'ui'), 'modules', /array/);
  refused(t, (m) => (m.modules[0]!.kind = 'box'), 'modules[0].kind', /one of client, server, mutable, peer/);
  refused(t, (m) => (m.modules[2]!.tier = 'fallback-3'), 'modules[2].tier', /one of boot, fallback-1, fallback-2/);
  refused(t, (m) => (m.modules[0]!.file = '../etc/passwd.js'), 'modules[0].file', /no directories/);
  refused(t, (m) => (m.modules[0]!.sha256 = 'ABC'), 'modules[0].sha256', /hex/);
  refused(t, (m) => (m.modules[0]!.size = -1), 'modules[0].size', /integer/);
  refused(t, (m) => (m.modules[0]!.uses = ['network']), 'modules[0].uses[0]', /unknown capability/);
  refused(t, (m) => (m.modules[0]!.uses = ['ui', 'ui']), 'modules[0].uses[1]', /duplicate/);
  refused(t, (m) => (m.modules[1]!.needs.memory = 1.5), 'modules[1].needs.memory', /integer/);
  refused(t, (m) => (m.modules[1]!.needs.cpu = 'turbo'), 'modules[1].needs.cpu', /low, mid, high/);
  refused(t, (m) => (m.modules[1]!.name = 'ui'), 'modules[1].name', /duplicate module name/);
  refused(t, (m) => delete (m.modules[1] as Record<string, unknown>).uses, 'modules[1].uses', /array/);
});

test('[c6, c7] service bindings: a client may not have one, a peer must', (t) => {
  refused(t, (m) => m.modules[0]!.uses.push('services.epg'), 'modules[0].uses', /client module .* cannot use head-end service/);
  refused(t, (m) => (m.modules[2]!.uses = ['storage']), 'modules[2].uses', /peer module must declare/);
});

test('decodeManifest refuses bytes that are not UTF-8 JSON', (t) => {
  t.is(t.throws(() => decodeManifest(new Uint8Array([0xff, 0xfe])), { instanceOf: ManifestError })?.field, '');
  t.regex(t.throws(() => decodeManifest(new TextEncoder().encode('{')), { instanceOf: ManifestError })?.message ?? '', /not valid JSON/);
  t.regex(t.throws(() => decodeManifest(new TextEncoder().encode('[]')), { instanceOf: ManifestError })?.message ?? '', /must be an object/);
});

test('[c20-c23] critical: a server or peer module may declare a queue or a semaphore; canonical bytes keep it last', (t) => {
  const m = manifest();
  m.modules.push({ name: 'store', kind: 'server', tier: 'boot', file: 'store.js', sha256: HASH, size: 5, uses: [], needs: {}, critical: { guard: 'semaphore', permits: 4 } });
  m.modules[2]!.critical = { guard: 'queue' };
  const out = checkManifest(m);
  t.deepEqual(out.modules[3]?.critical, { guard: 'semaphore', permits: 4 });
  t.deepEqual(out.modules[2]?.critical, { guard: 'queue' });
  t.false('critical' in (out.modules[0] as object), 'absent stays absent, so manifests without it keep their signed bytes');
  const shuffled = structuredClone(m);
  (shuffled.modules[3] as { critical: unknown }).critical = { permits: 4, guard: 'semaphore' };
  t.deepEqual(encodeManifest(shuffled), encodeManifest(m));
  t.regex(new TextDecoder().decode(encodeManifest(m)), /"needs": \{\},\n {6}"critical": \{\n {8}"guard": "semaphore",\n {8}"permits": 4\n/);
  t.deepEqual(decodeManifest(encodeManifest(m)), out);
});

test('critical is checked field by field and refused where no head-end lock exists', (t) => {
  refused(t, (m) => (m.modules[2]!.critical = { guard: 'mutex' }), 'modules[2].critical.guard', /one of queue, semaphore/);
  refused(t, (m) => (m.modules[2]!.critical = { guard: 'queue', fair: true }), 'modules[2].critical.fair', /unknown key/);
  refused(t, (m) => (m.modules[2]!.critical = { guard: 'queue', permits: 2 }), 'modules[2].critical.permits', /queue has one holder/);
  refused(t, (m) => (m.modules[2]!.critical = { guard: 'semaphore' }), 'modules[2].critical.permits', /needs permits/);
  refused(t, (m) => (m.modules[2]!.critical = { guard: 'semaphore', permits: 0 }), 'modules[2].critical.permits', /1\.\.65536/);
  refused(t, (m) => (m.modules[2]!.critical = { guard: 'semaphore', permits: 2.5 }), 'modules[2].critical.permits', /integer/);
  refused(t, (m) => (m.modules[2]!.critical = 'queue'), 'modules[2].critical', /must be an object/);
  refused(t, (m) => (m.modules[1]!.critical = { guard: 'queue' }), 'modules[1].critical', /only server and peer modules/);
  refused(t, (m) => (m.modules[0]!.critical = { guard: 'queue' }), 'modules[0].critical', /not client/);
});

test('[issue 13.2] durability: a head-end module may say "sync" or "interval"; absent stays absent (the default, interval)', (t) => {
  const m = manifest();
  m.modules.push({ name: 'tally', kind: 'server', tier: 'boot', file: 'tally.js', sha256: HASH, size: 5, uses: [], needs: {}, durability: 'sync' });
  m.modules[1]!.durability = 'interval';
  const out = checkManifest(m);
  t.is(out.modules[3]?.durability, 'sync');
  t.is(out.modules[1]?.durability, 'interval');
  t.false('durability' in (out.modules[0] as object), 'absent stays absent, so manifests without it keep their signed bytes');
  t.regex(new TextDecoder().decode(encodeManifest(m)), /"needs": \{\},\n {6}"durability": "sync"\n/);
  t.deepEqual(decodeManifest(encodeManifest(m)), out);
});

test('durability is checked by name and refused on client and peer modules, whose state no head-end snapshots', (t) => {
  refused(t, (m) => (m.modules[1]!.durability = 'always'), 'modules[1].durability', /one of interval, sync/);
  refused(t, (m) => (m.modules[1]!.durability = true), 'modules[1].durability', /one of interval, sync/);
  refused(t, (m) => (m.modules[0]!.durability = 'sync'), 'modules[0].durability', /client module runs on the box/);
  refused(t, (m) => (m.modules[2]!.durability = 'sync'), 'modules[2].durability', /peer module keeps no snapshot/);
});

test('scope (issue 16): a server module may be app-wide; "session" is the default and is not written', (t) => {
  const m = manifest() as unknown as Loose;
  m.modules.push({ name: 'tally', kind: 'server', tier: 'boot', file: 'tally.js', sha256: HASH, size: 5, uses: ['storage'], needs: {}, critical: { guard: 'queue' }, scope: 'app' });
  m.modules.push({ name: 'ballot', kind: 'server', tier: 'boot', file: 'ballot.js', sha256: HASH, size: 5, uses: [], needs: {}, scope: 'session' });
  const out = checkManifest(m);
  t.is(out.modules[3]?.scope, 'app');
  t.false('scope' in (out.modules[4] as object), 'the default is left out, so manifests without it keep their signed bytes');
  t.regex(new TextDecoder().decode(encodeManifest(out)), /"critical": \{\n {8}"guard": "queue"\n {6}\},\n {6}"scope": "app"\n/);
  t.deepEqual(decodeManifest(encodeManifest(out)), out);
});

test('scope is refused by name on anything but a server module, and must be session or app', (t) => {
  refused(t, (m) => (m.modules[0]!.scope = 'app'), 'modules[0].scope', /only a server module may be app-wide .* this one is client/);
  refused(t, (m) => (m.modules[1]!.scope = 'app'), 'modules[1].scope', /this one is mutable/);
  refused(t, (m) => (m.modules[2]!.scope = 'app'), 'modules[2].scope', /this one is peer/);
  refused(t, (m) => (m.modules[2]!.scope = 'cluster'), 'modules[2].scope', /one of session, app/);
});

// The firmware (build.mjs defines WEFT_FIRMWARE) keeps only what a box acts on: critical,
// durability and scope are left out of its copy unread; everything else is checked as on the head-end.
function asFirmware<T>(run: () => T): T {
  globalThis.WEFT_FIRMWARE = true;
  try {
    return run();
  } finally {
    globalThis.WEFT_FIRMWARE = undefined;
  }
}

test('firmware: the head-end-only fields are left out of the box copy, and the rest is checked as before', (t) => {
  const m = structuredClone(manifest()) as unknown as Loose;
  m.modules.push({ name: 'tally', kind: 'server', tier: 'boot', file: 'tally.js', sha256: HASH, size: 5, uses: [], needs: {}, durability: 'sync', scope: 'app', critical: { guard: 'queue' } });
  const out = asFirmware(() => checkManifest(m));
  t.deepEqual(out.modules[3], { name: 'tally', kind: 'server', tier: 'boot', file: 'tally.js', sha256: HASH, size: 5, uses: [], needs: {} });
  t.deepEqual(checkManifest(m).modules[3]?.durability, 'sync', 'the head-end keeps and checks them');
  (m.modules[0] as Record<string, unknown>).color = 'red';
  const err = asFirmware(() => t.throws(() => checkManifest(m), { instanceOf: ManifestError }));
  t.is(err?.field, 'modules[0].color', 'unknown keys are still refused on the box');
  delete (m.modules[0] as Record<string, unknown>).color;
  m.modules[0]!.uses = ['services.epg'];
  t.is(asFirmware(() => t.throws(() => checkManifest(m), { instanceOf: ManifestError }))?.field, 'modules[0].uses', 'a client bound to a head-end service is still refused');
});
