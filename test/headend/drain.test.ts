// The drain's own logic (headend/node/drain.ts) against a fake node: a manual clock paces the
// moves, targets fail on purpose, and nothing reads the wall clock or a socket.
import test from 'ava';
import { Codes, ManualClock, fail, ok, type RemoteError, type Result } from '../../runtime/index.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryNode, memoryRegistry } from '../_helpers/headend.ts';
import { MemoryNet } from '../_helpers/memory-net.ts';
import { Drain, type DrainHost, type DrainProgress } from '../../headend/node/drain.ts';

interface Fake {
  host: DrainHost;
  here: Map<string, { app: string; session: string }>;
  moves: { iid: string; to: string; at: number }[];
  records: Map<string, string>;
  left: number;
}

function fake(clock: ManualClock, o: { n: number; targets?: string[]; refuse?: Set<string> }): Fake {
  const here = new Map<string, { app: string; session: string }>();
  for (let i = 0; i < o.n; i++) here.set(`i${i}`, { app: 'mix', session: `s${i}` });
  const f: Fake = { here, moves: [], records: new Map(), left: 0, host: undefined as unknown as DrainHost };
  f.host = {
    id: 'n2',
    clock,
    instances: () => [...here.keys()],
    specOf: (iid) => here.get(iid),
    target: (_app, exclude) => (o.targets ?? ['n1', 'n3']).find((t) => !exclude.includes(t)),
    move: (iid, to): Promise<Result<string, Error>> => {
      if (o.refuse?.has(to) === true) return Promise.resolve(fail(new Error(`${to} refused`)));
      f.moves.push({ iid, to, at: clock.now() });
      here.delete(iid);
      return Promise.resolve(ok(to));
    },
    recordMoved: (session, to) => {
      f.records.set(session, to);
      return Promise.resolve();
    },
    leave: () => {
      f.left++;
      return Promise.resolve();
    },
    log: () => {},
  };
  return f;
}

/** Run the drain to its end, advancing the manual clock by `stepMs` whenever it waits. */
async function runOut(clock: ManualClock, done: Promise<DrainProgress>, stepMs: number): Promise<DrainProgress> {
  let end: DrainProgress | undefined;
  void done.then((p) => (end = p));
  for (let i = 0; i < 10_000 && end === undefined; i++) {
    await new Promise((r) => setImmediate(r));
    if (end === undefined) clock.advance(stepMs);
  }
  if (end === undefined) throw new Error('the drain never ended');
  return end;
}

test('a drain moves every instance at the rate cap, records where each session went, then leaves once', async (t) => {
  const clock = new ManualClock(0);
  const f = fake(clock, { n: 10 });
  const drain = new Drain(f.host);
  t.false(drain.active);
  const seen: string[] = [];
  drain.onProgress((p) => seen.push(p.state));
  const end = await runOut(clock, drain.start({ ratePerS: 5 }), 50);
  t.true(drain.active, 'a drained node stays out of placement');
  t.like(end, { state: 'left', total: 10, moved: 10, failed: 0, remaining: 0, ratePerS: 5 });
  t.is(f.left, 1);
  t.is(f.records.size, 10, 'every session record follows its portion');
  // [rate cap] 5 per second: consecutive moves are at least 200 ms apart on the injected clock.
  for (let i = 1; i < f.moves.length; i++) t.true((f.moves[i]?.at ?? 0) - (f.moves[i - 1]?.at ?? 0) >= 200, `move ${i} came too soon`);
  t.deepEqual([seen[0], seen.at(-1)], ['draining', 'left']);
});

test('a failed move is retried on another node; a drain with nowhere to go ends stuck and does not leave', async (t) => {
  const clock = new ManualClock(0);
  const f = fake(clock, { n: 3, refuse: new Set(['n1']) });
  const end = await runOut(clock, new Drain(f.host).start({ ratePerS: 100 }), 10);
  t.like(end, { state: 'left', moved: 3 });
  t.true(end.failed >= 1, 'the refusals are counted');
  t.true(f.moves.every((m) => m.to === 'n3'));
  const g = fake(clock, { n: 2, targets: [] });
  const stuck = await runOut(clock, new Drain(g.host).start({ ratePerS: 100 }), 10);
  t.like(stuck, { state: 'stuck', moved: 0, remaining: 2 });
  t.is(g.left, 0, 'a node that still hosts work never leaves');
  t.regex(stuck.lastError ?? '', /no node can take mix/);
});

test('drain options are checked by name and range', (t) => {
  const d = new Drain(fake(new ManualClock(0), { n: 0 }).host);
  t.throws(() => d.start({ rate: 5 } as never), { message: /rate/ });
  t.throws(() => d.start({ ratePerS: 0 }), { message: /ratePerS/ });
  t.throws(() => d.start({ attempts: 0 }), { message: /attempts/ });
  t.false(d.active, 'a refused start changes nothing');
});

test('a drained node alone answers session.open with DRAINING (19) and keeps no record of the refused session', async (t) => {
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const clock = new ManualClock();
  const net = new MemoryNet();
  const registry = memoryRegistry(clock);
  const n1 = await memoryNode({ id: 'n1', net, clock, registry, apps: [pub], trusted });
  t.teardown(async () => {
    await n1.close();
    await registry.close();
  });
  const done = n1.drain({ leave: false });
  clock.advance(1000);
  t.like(await done, { state: 'drained', total: 0 });
  const report = { boxId: 'b1', profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low' as const, cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: 0 };
  const e = await t.throwsAsync(n1.sessions.open({ app: 'mix', version: '1.0.0', boxId: 'b1', report }, 's-refused'));
  t.is((e as RemoteError).remoteCode, Codes.DRAINING);
  t.is(await registry.getSession('s-refused'), undefined, 'the refused session left no record behind');
  t.is(n1.sessions.count, 0);
});
