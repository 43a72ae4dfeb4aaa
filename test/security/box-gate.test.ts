// docs/SECURITY.md rows "session ownership at the ingress": the gate every box envelope passes,
// sans-IO (a fake node, a registry lookup the test answers by hand, a manual clock). A box's
// envelopes keep their order while a lookup is out; a spoofed source is never answered; an
// unknown destination session is NO_SESSION; what waits is bounded.

import test from 'ava';
import { Codes, ManualClock, type Envelope } from '../../runtime/index.ts';
import { BoxGate, MAX_WAITING_PER_BOX, type SessionOwner } from '../../headend/node/box-gate.ts';

function world(local: Record<string, SessionOwner> = {}) {
  const passed: Envelope[] = [];
  const replies: Envelope[] = [];
  const lookups: { session: string; answer: (o: SessionOwner | undefined) => void }[] = [];
  const gate = new BoxGate({
    clock: new ManualClock(0),
    log: () => {},
    localOwner: (s) => local[s],
    lookup: (session) => new Promise((answer) => lookups.push({ session, answer })),
    pass: (e) => passed.push(e),
    reply: (e) => replies.push(e),
  });
  return { gate, passed, replies, lookups };
}

let id = 1;
function env(box: string, src: string, dst: string, kind: Envelope['kind'] = 'req'): Envelope {
  return { v: 1, kind, id: id++, src: { vaddr: src }, dst: { vaddr: dst }, ext: { by: `box:${box}` } };
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

test("a box's envelopes keep their order while the owner of a session is looked up", async (t) => {
  const w = world({ mine: { app: 'mix', box: 'a' } });
  const first = env('a', 'weft://box/a/inbox', 'weft://mix/far/counter');
  const second = env('a', 'weft://box/a/inbox', 'weft://mix/mine/counter');
  w.gate.admit(first);
  w.gate.admit(second);
  t.is(w.passed.length, 0, 'the second waits behind the first, though it could pass at once');
  t.is(w.lookups.length, 1);
  w.lookups[0]?.answer({ app: 'mix', box: 'a' });
  await flush();
  t.deepEqual(
    w.passed.map((e) => e.id),
    [first.id, second.id],
  );
  w.gate.admit(env('a', 'weft://box/a/inbox', 'weft://mix/far/counter'));
  t.is(w.passed.length, 3, 'the owner is remembered: no second lookup');
});

test('a source the box does not own is refused and never answered; an unknown destination is NO_SESSION', async (t) => {
  const w = world({ theirs: { app: 'mix', box: 'b' } });
  const open = { ...env('a', 'weft://mix/theirs/ui', 'weft://headend/*/sessions'), op: 'session.open' };
  w.gate.admit(open);
  t.is(w.gate.refusals.counts['spoofed-source'], 1);
  w.gate.admit(env('a', 'weft://mix/theirs/ui', 'weft://headend/n1/control'));
  t.is(w.gate.refusals.counts['node-internal'], 1);
  t.is(w.replies.length, 0, 'neither is answered: the source is not the sender');
  w.gate.admit(env('a', 'weft://box/a/inbox', 'weft://mix/nobody/counter'));
  w.lookups[0]?.answer(undefined);
  await flush();
  t.is((w.replies[0]?.body as { code: number }).code, Codes.NO_SESSION);
  t.is(w.replies[0]?.dst.vaddr, 'weft://box/a/inbox');
  t.is(w.passed.length, 0);
});

test('envelopes waiting behind a lookup are bounded per box', (t) => {
  const w = world();
  for (let i = 0; i <= MAX_WAITING_PER_BOX; i++) w.gate.admit(env('a', 'weft://box/a/inbox', 'weft://mix/far/counter'));
  t.is(w.gate.refusals.counts.backlog, 1, 'one past the bound is refused, not kept');
  t.is((w.replies[0]?.body as { code: number }).code, Codes.RATE_LIMITED);
});
