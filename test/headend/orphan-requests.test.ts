// [c31] A request inside a portion copy that stops is never left to its caller's deadline
// (headend/node/orphans.ts), on the deterministic tier: the clock never moves, so a request that
// is answered at all is answered before its deadline. Before, a copy stopped for a lost claim
// (portion-claims.ts -> stopLost), or whose thread died, dropped what it had not answered: the
// box waited its full deadline and got TIMEOUT (node-mqtt's stress flake, issue 19).
import test from 'ava';
import { Codes, RemoteError, type OpenReply } from '../../runtime/index.ts';
import type { FakeModule } from '../_helpers/in-thread-pool.ts';
import { lossyPair, settle } from '../_helpers/lossy-pair.ts';

/** The session's module on n1 holds a request whose body says `hang` (it awaits something that never comes); n2's answers it. */
const hangOnN1: FakeModule = (body, _env, state, spec) =>
  spec.node === 'n1' && (body as { hang?: boolean } | null)?.hang === true ? new Promise(() => {}) : { n: ++state.n, echo: body, at: spec.node };

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown } | undefined;

/** A box request whose outcome is read later (it must not be awaited: on the old code it never ends). */
function watch(p: Promise<unknown>): () => Outcome {
  let out: Outcome;
  p.then(
    (value) => (out = { ok: true, value }),
    (error: unknown) => (out = { ok: false, error }),
  );
  return () => out;
}

async function settleUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await settle();
}

function iidOf(n: { table: { hosted: Map<string, { iids: string[] }> } }, s: OpenReply): string {
  return n.table.hosted.get(s.dasp)?.iids[0] as string;
}

type Pair = Awaited<ReturnType<typeof lossyPair>>;

/** A session of box b1 on n1 and a request that hangs inside n1's copy (`timeoutMs`: the box's deadline for it), once it is counted in flight there. */
async function hanging(c: Pair, timeoutMs?: number): Promise<{ s: OpenReply; iid: string; out: () => Outcome }> {
  const [n1] = c.nodes;
  const s = await c.open('b1', n1);
  const iid = iidOf(n1, s);
  const out = watch(c.box.request({ vaddr: s.dasp, udp: n1.udpAddress }, { hang: true }, timeoutMs === undefined ? {} : { timeoutMs }));
  await settleUntil(() => n1.portions.inflightOf(iid) === 1);
  return { s, iid, out };
}

test('a request in flight inside a copy whose claim another node takes over is forwarded to the owner and answered before its deadline [c31]', async (t) => {
  const c = await lossyPair({ counter: hangOnN1 });
  const [n1, n2] = c.nodes;
  try {
    const { s, iid, out } = await hanging(c);
    t.is(n1.portions.inflightOf(iid), 1, 'the request waits inside n1\'s copy');
    // A failover loses n1's claim; n2 claims the portion (a survivor re-placing it).
    await c.registry.lose(s.dasp);
    t.true((await n2.startPortion('mix', s.session, [...(n1.pool.instances.get(iid)?.modules ?? [])])).ok);
    await n1.claims.settled();
    t.deepEqual(c.copies(s.session), ['n2']);
    await settleUntil(() => out() !== undefined);
    t.deepEqual(out(), { ok: true, value: { n: 1, echo: { hang: true }, at: 'n2' } }, 'answered by the owner, the clock never moved');
    t.like(n1.counters, { orphans: 1, orphansForwarded: 1, orphansAnswered: 0, orphansExpired: 0 });
    t.is(n1.portions.threadStats().reduce((k, x) => k + x.inflight, 0), 0, 'nothing counted in flight on n1\'s threads');
  } finally {
    await c.close();
  }
});

test('a request in flight when its copy\'s thread dies is answered NO_SESSION at once: the box opens the session again and sends it once more [c31, 13.1]', async (t) => {
  const c = await lossyPair({ counter: hangOnN1 });
  const [n1] = c.nodes;
  try {
    const { iid, out } = await hanging(c);
    n1.pool.crash(iid);
    await settleUntil(() => out() !== undefined);
    const o = out();
    t.false(o?.ok ?? true, 'answered, with an error');
    t.true(o?.ok === false && o.error instanceof RemoteError && o.error.code === Codes.NO_SESSION, `NO_SESSION (${String(o?.ok === false ? (o.error as Error).message : o)})`);
    t.like(n1.counters, { orphans: 1, orphansForwarded: 0, orphansAnswered: 1 });
  } finally {
    await c.close();
  }
});

test('a request forwarded once from a stopped copy and left waiting by this node again is answered UNAVAILABLE: no forwarding loop [c31]', async (t) => {
  // n1's copy is lost to n2 with a request inside: forwarded to n2, where it waits as well (n2's
  // module also holds it); n2's copy is then lost back to n1, whose new copy holds it too; when
  // that copy stops, n1 has forwarded this request once already and answers it instead.
  const hangEverywhere: FakeModule = (body, _env, state) => ((body as { hang?: boolean } | null)?.hang === true ? new Promise(() => {}) : { n: ++state.n });
  const c = await lossyPair({ counter: hangEverywhere });
  const [n1, n2] = c.nodes;
  try {
    const { s, iid, out } = await hanging(c);
    const modules = [...(n1.pool.instances.get(iid)?.modules ?? [])];
    await c.registry.lose(s.dasp);
    t.true((await n2.startPortion('mix', s.session, modules)).ok);
    await n1.claims.settled();
    await settleUntil(() => n2.portions.inflightOf(iidOf(n2, s)) === 1);
    t.is(n2.portions.inflightOf(iidOf(n2, s)), 1, 'forwarded: it waits in n2\'s copy');
    await c.registry.lose(s.dasp);
    t.true((await n1.startPortion('mix', s.session, modules)).ok, 'n1 takes it back');
    await n2.claims.settled();
    await settleUntil(() => n1.portions.inflightOf(iidOf(n1, s)) === 1);
    t.is(n1.portions.inflightOf(iidOf(n1, s)), 1, 'forwarded back by n2: it waits in n1\'s new copy');
    t.is(await n1.stopSession(s.session), 1);
    await settleUntil(() => out() !== undefined);
    const o = out();
    t.true(o?.ok === false && o.error instanceof RemoteError && o.error.code === Codes.UNAVAILABLE, 'UNAVAILABLE: retry');
    t.like(n1.counters, { orphans: 2, orphansForwarded: 1, orphansAnswered: 1 });
    t.like(n2.counters, { orphans: 1, orphansForwarded: 1 });
  } finally {
    await c.close();
  }
});

test('a request past its deadline when its copy stops is dropped, counted: its caller already gave up', async (t) => {
  const c = await lossyPair({ counter: hangOnN1 });
  const [n1] = c.nodes;
  try {
    const { iid, out } = await hanging(c, 1000);
    c.clock.advance(1000);
    await settleUntil(() => out() !== undefined);
    t.true(out()?.ok === false, 'the box gave up (TIMEOUT)');
    n1.pool.crash(iid);
    await settle();
    t.like(n1.counters, { orphans: 1, orphansExpired: 1, orphansAnswered: 0, orphansForwarded: 0 });
  } finally {
    await c.close();
  }
});

test('answered requests leave nothing behind: a copy stopped after its replies ends no request twice', async (t) => {
  const c = await lossyPair();
  const [n1, n2] = c.nodes;
  try {
    const s = await c.open('b1', n1);
    for (let k = 0; k < 5; k++) await c.box.request({ vaddr: s.dasp, udp: n1.udpAddress }, { k });
    const modules = [...(n1.pool.instances.get(iidOf(n1, s))?.modules ?? [])];
    await c.registry.lose(s.dasp);
    t.true((await n2.startPortion('mix', s.session, modules)).ok);
    await n1.claims.settled();
    await settle();
    t.like(n1.counters, { orphans: 0, orphansForwarded: 0, orphansAnswered: 0 });
  } finally {
    await c.close();
  }
});

test('a request still inside a copy when its move ends (past the drain wait) goes to the moved instance [c31-c33]', async (t) => {
  const c = await lossyPair({ counter: hangOnN1 });
  const [n1] = c.nodes;
  try {
    const { iid, out } = await hanging(c);
    // The move waits at most 20 ms (wall time, the move's own drain loop) for it, then goes on.
    t.deepEqual(await n1.movePortion(iid, 'n2', 20), { ok: true, value: 'n2' });
    await settleUntil(() => out() !== undefined);
    t.like(out(), { ok: true, value: { echo: { hang: true }, at: 'n2' } });
    t.like(n1.counters, { orphans: 1, orphansForwarded: 1 });
  } finally {
    await c.close();
  }
});
