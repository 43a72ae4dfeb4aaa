import test from 'ava';
import { ArgumentError, LocalBus, ManualClock, type Envelope } from '../../runtime/index.ts';
import { type DeathReason, type Heartbeat, parseHeartbeat, TIMING_OPS, TimingProcess } from '../../headend/stats/timing.ts';

const I = 1000;

/** Several timing processes on one ManualClock, each beat delivered to every other at once (or dropped). */
function cluster(names: string[], clock: ManualClock, options: { missedBeats?: number } = {}) {
  const deaths: [string, string, DeathReason, number][] = [];
  const revivals: [string, string][] = [];
  const silenced = new Set<string>();
  const procs = new Map<string, TimingProcess>();
  for (const name of names) {
    procs.set(
      name,
      new TimingProcess({
        node: name,
        clock,
        intervalMs: I,
        ...options,
        send: (_op, hb) => {
          if (silenced.has(name)) return;
          for (const [other, p] of procs) if (other !== name) p.observe(hb);
        },
        onDead: (n, why) => deaths.push([name, n, why, clock.now()]),
        onAlive: (n) => revivals.push([name, n]),
      }),
    );
  }
  return { procs, deaths, revivals, silenced, get: (n: string) => procs.get(n) as TimingProcess };
}

test('[c16] a node that stops beating is declared dead within 3 intervals, by every peer, once', (t) => {
  const clock = new ManualClock();
  const c = cluster(['a', 'b', 'c'], clock);
  for (const p of c.procs.values()) p.start();
  clock.advance(5 * I + 137);
  t.deepEqual(c.deaths, []);
  // c dies just after a beat: its last beat went out at 5000 (timers started at 0).
  const lastBeat = clock.now() - 137;
  c.silenced.add('c');
  c.get('c').stop();
  clock.advance(2 * I);
  t.deepEqual(c.deaths, [], 'not before two beats were due');
  clock.advance(I);
  t.deepEqual(c.deaths.map(([by, n, why]) => [by, n, why]), [['a', 'c', 'missed-beats'], ['b', 'c', 'missed-beats']]);
  for (const [, , , at] of c.deaths) {
    t.true(at - lastBeat <= 3 * I, `declared ${at - lastBeat} ms after the last beat`);
    t.true(at - lastBeat >= 2.5 * I);
  }
  clock.advance(20 * I);
  t.is(c.deaths.length, 2, 'declared once');
  t.false(c.get('a').isAlive('c'));
  t.true(c.get('a').isAlive('b'));
});

test('[c16] with jittered beats (up to 40% of an interval late) and one lost beat, nobody is declared dead', (t) => {
  const clock = new ManualClock();
  const seen: string[] = [];
  const watcher = new TimingProcess({ node: 'w', clock, intervalMs: I, onDead: (n) => seen.push(n) });
  watcher.start();
  let seq = 0;
  let rnd = 7;
  const jitter = (): number => ((rnd = (rnd * 48271) % 2147483647) / 2147483647) * 0.4 * I;
  let next = 0;
  for (let beat = 0; beat < 200; beat++) {
    const at = beat * I + jitter();
    clock.advance(at - next);
    next = at;
    if (beat === 100) continue; // one datagram lost
    watcher.observe({ node: 'p', incarnation: 1, seq: ++seq, at: clock.now(), intervalMs: I });
  }
  t.deepEqual(seen, []);
  t.deepEqual(watcher.stats(), { sent: 0, received: 199, late: 0, malformed: 0, errors: 0, peers: 1, alive: 1 });
});

test('a dead node that beats again is alive again; a restart (new incarnation) is a death then a revival', (t) => {
  const clock = new ManualClock();
  const events: string[] = [];
  const w = new TimingProcess({ node: 'w', clock, intervalMs: I, onDead: (n, why) => events.push(`dead ${n} ${why}`), onAlive: (n) => events.push(`alive ${n}`) });
  w.start();
  const hb = (seq: number, incarnation = 1): Heartbeat => ({ node: 'p', incarnation, seq, at: clock.now(), intervalMs: I });
  w.observe(hb(1));
  clock.advance(3 * I);
  w.observe(hb(2));
  t.deepEqual(events, ['dead p missed-beats', 'alive p']);
  clock.advance(I / 2);
  w.observe(hb(1, 2)); // restarted between two beats: never silent, but its portions are gone
  t.deepEqual(events.slice(2), ['dead p restarted', 'alive p']);
  w.observe(hb(5, 1)); // a late beat from the old incarnation
  t.is(w.stats().late, 1);
  t.is(w.peers()[0]?.incarnation, 2);
});

test('a node expected from the registry but never heard is declared dead on the usual schedule', (t) => {
  const clock = new ManualClock();
  const dead: string[] = [];
  const w = new TimingProcess({ node: 'w', clock, intervalMs: I, missedBeats: 1, onDead: (n) => dead.push(n) });
  w.start();
  w.expect('ghost');
  w.expect('w'); // ourselves: ignored
  clock.advance(1.5 * I - 1);
  t.deepEqual(dead, []);
  clock.advance(I / 4 + 1);
  t.deepEqual(dead, ['ghost']);
  t.deepEqual(w.peers().map((p) => [p.node, p.alive, p.incarnation]), [['ghost', false, undefined]]);
});

test('beats travel as `stat` envelopes through a local queue and are parsed on arrival', async (t) => {
  const clock = new ManualClock();
  const bus = new LocalBus();
  const qa = bus.open('timing.a');
  const qb = bus.open('timing.b');
  const b = new TimingProcess({ node: 'b', clock, intervalMs: I });
  const got: Envelope[] = [];
  qb.onEnvelope((e) => {
    got.push(e);
    b.receive(e);
  });
  const a = new TimingProcess({
    node: 'a',
    clock,
    intervalMs: I,
    udp: { host: '127.0.0.1', port: 9000 },
    send: (op, body) => qa.send({ v: 1, kind: 'stat', id: body.seq, src: qa.address, dst: qb.address, op, body }),
  });
  a.start();
  clock.advance(I);
  await new Promise((resolve) => setImmediate(resolve));
  t.is(got.length, 2);
  t.is(got[0]?.op, TIMING_OPS.beat);
  t.deepEqual(b.peers().map((p) => [p.node, p.alive, p.udp?.port]), [['a', true, 9000]]);
  t.false(b.receive({ v: 1, kind: 'stat', id: 9, src: qa.address, dst: qb.address, op: 'stats.node', body: {} }));
  t.true(b.receive({ v: 1, kind: 'stat', id: 9, src: qa.address, dst: qb.address, op: TIMING_OPS.beat, body: { node: 'x' } }));
  t.is(b.stats().malformed, 1);
  a.stop();
  t.is(clock.pending, 0);
});

test('heartbeat bodies are checked; failed sends and throwing callbacks are counted, not thrown', async (t) => {
  t.deepEqual(parseHeartbeat({ node: 'n', incarnation: 1, seq: 2, at: 3, intervalMs: 1000, extra: 1 }), { ok: true, value: { node: 'n', incarnation: 1, seq: 2, at: 3, intervalMs: 1000 } });
  t.false(parseHeartbeat({ node: 'n', incarnation: 1, seq: 2, at: 3, intervalMs: 0 }).ok);
  t.false(parseHeartbeat({ node: 'n', incarnation: -1, seq: 2, at: 3, intervalMs: 1 }).ok);
  t.false(parseHeartbeat({ node: 'n', incarnation: 1, seq: 2, at: 3, intervalMs: 1, udp: { host: 'h', port: 0 } }).ok);
  t.false(parseHeartbeat([]).ok);
  const clock = new ManualClock();
  const errors: unknown[] = [];
  const p = new TimingProcess({
    node: 'a',
    clock,
    intervalMs: I,
    send: () => Promise.reject(new Error('wire down')),
    onDead: () => {
      throw new Error('handler bug');
    },
    onError: (e) => errors.push(e),
  });
  p.start();
  p.expect('b');
  clock.advance(3 * I);
  await Promise.resolve();
  t.true(errors.length >= 2);
  t.is(p.stats().errors, errors.length);
  p.stop();
  t.throws(() => new TimingProcess({ node: 'a', beats: 2 } as never), { instanceOf: ArgumentError, message: /"beats"/ });
  t.throws(() => new TimingProcess({ node: 'a', missedBeats: 0 }), { instanceOf: ArgumentError, message: /missedBeats/ });
  t.throws(() => new TimingProcess({ node: 'a b' }), { instanceOf: ArgumentError, message: /node/ });
});
