// Mutable modules move with their state [c4, c18]: snapshot() on one side, CBOR in between,
// restore(state) on the other before start. Bad snapshots and bad state are named refusals.
import test from 'ava';
import { StateCodec } from '../../runtime/app/index.ts';
import { loadEngine, type SandboxFault } from '../../sandbox/index.ts';
import { Apps, one, verified } from './_harness.ts';

const engine = await loadEngine();
const from = { queue: 'tester' };

const SEARCH = `
  let titles = [];
  let queries = 0;
  weft.on('request', (b) => {
    if (b.op === 'add') { titles.push(...b.titles); return titles.length; }
    queries++;
    return { hits: titles.filter((t) => t.toLowerCase().includes(b.q)), queries };
  });
  export function snapshot() { return { titles, queries, v: 1 }; }
  export function restore(state) { if (state.v !== 1) throw new Error('unknown state version'); titles = state.titles; queries = state.queries; }
`;

test('box -> head-end: the state crosses as CBOR and the module carries on', async (t) => {
  const apps = new Apps(engine);
  const search = (await verified('guide', [{ name: 'search', kind: 'mutable', source: SEARCH }])).get('search')!;
  const box = apps.make({ app: 'guide', side: 'box', session: 's9' });
  const headend = apps.make({ app: 'guide', side: 'headend', session: 's9' });
  const a = box.load(search);
  if (!a.ok) return t.fail(a.error.message);
  a.value.start();
  t.is(await a.value.serve({ op: 'add', titles: ['News at Ten', 'Nature Hour', 'Late News'] }, from), 3);
  t.deepEqual(await a.value.serve({ q: 'news' }, from), { hits: ['News at Ten', 'Late News'], queries: 1 });
  const snap = a.value.snapshot();
  if (!snap.ok) return t.fail(snap.error.message);
  t.true(snap.value instanceof Uint8Array);
  t.deepEqual(new StateCodec().decode(snap.value), { titles: ['News at Ten', 'Nature Hour', 'Late News'], queries: 1, v: 1 });
  a.value.destroy();

  const b = headend.load(search);
  if (!b.ok) return t.fail(b.error.message);
  t.is(b.value.address, a.value.address, '[c31] same virtual address after the move');
  t.true(b.value.restore(snap.value).ok);
  b.value.start();
  t.deepEqual(await b.value.serve({ q: 'nature' }, from), { hits: ['Nature Hour'], queries: 2 });
  apps.finish(t);
});

test('refusals: no export, not loaded, state that does not decode, state over the limit', async (t) => {
  const apps = new Apps(engine);
  const app = apps.make({ limits: { maxStateBytes: 64 } });
  const plain = app.load(await one(`weft.on('request', () => 1);`, { name: 'plain' }));
  if (!plain.ok) return t.fail();
  const snap = plain.value.snapshot();
  t.is(!snap.ok && snap.error.fault, 'no-handler');
  t.is(!plain.value.restore(new Uint8Array([0xa0])).ok && plain.value.state, 'loaded');

  const m = app.load(await one(SEARCH + `weft.on('message', (b) => { titles = b; });`, { name: 'search', kind: 'mutable' }));
  if (!m.ok) return t.fail();
  const garbage = m.value.restore(new Uint8Array([0xff, 0x00, 0x13]));
  t.is(!garbage.ok && garbage.error.fault, 'capability');
  t.false(!garbage.ok && garbage.error.fatal);
  t.is(m.value.state, 'loaded', 'a bad state is refused, the module can still start fresh');
  m.value.start();
  m.value.deliver(['x'.repeat(100)], from);
  const big = m.value.snapshot();
  t.is(!big.ok && big.error.fault, 'capability');
  t.regex(!big.ok ? big.error.message : '', /too large/);
  t.is(m.value.state, 'started');
  const late = m.value.restore(new StateCodec().encode({ titles: [], queries: 0, v: 1 }));
  t.is(!late.ok && late.error.fault, 'state');
  apps.finish(t);
});

test('a snapshot or restore that misbehaves stops the module with the cause', async (t) => {
  const apps = new Apps(engine);
  const app = apps.make({ limits: { deadlineMs: 30, startDeadlineMs: 60 } });
  const cases: [string, SandboxFault, RegExp][] = [
    ['export function snapshot() { return () => 1; }', 'exception', /not a function|must be JSON data/],
    ['export async function snapshot() { return {}; }', 'exception', /not a promise/],
    ['export function snapshot() { for (;;) {} }', 'deadline', /snapshot\(\) ran past/],
  ];
  let i = 0;
  for (const [src, fault, words] of cases) {
    const m = app.load(await one(src, { name: `s${i++}` }));
    if (!m.ok) return t.fail();
    const r = m.value.snapshot();
    t.is(!r.ok && r.error.fault, fault, !r.ok ? r.error.message : 'ok');
    t.regex(!r.ok ? r.error.message : '', words);
    t.is(m.value.state, 'destroyed');
  }
  const bad = app.load(await one(SEARCH, { name: 'r' }));
  if (!bad.ok) return t.fail();
  const r = bad.value.restore(new StateCodec().encode({ v: 2 }));
  t.is(!r.ok && r.error.fault, 'exception');
  t.regex(!r.ok ? r.error.message : '', /unknown state version/);
  apps.finish(t);
});
