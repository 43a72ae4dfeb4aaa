// [issue 19, build 5] A light box (devices/fleet-light.ts): the channel, reports and a session,
// no app. Against an in-memory head-end on a manual clock: it opens a session and reports at the
// head-end's interval (or its own), re-opens when the head-end answers NO_SESSION after a
// reconnect, retries a refused open with backoff, and a dead link sends it dialing again.
import test from 'ava';
import { Channel, Codes, ManualClock, RemoteError, SessionOps, seededRandom, type Envelope, type EnvelopeHandler, type Transport } from '../../runtime/index.ts';
import { TimeoutError } from '../../runtime/index.ts';
import type { Dialer, LinkEvent } from '../../loader/index.ts';
import { LightBox, type LightEvent, startLightFleet } from '../../devices/index.ts';

/** One box transport wired to a head-end Channel; envelopes cross on a later microtask. */
class Wire implements Transport {
  readonly kind = 'memory';
  readonly address = { vaddr: 'weft://box/b/loader' };
  closed = false;
  #handler: EnvelopeHandler = () => {};
  /** `away()`: what the box sends is lost (a head-end off the broker: no one subscribed to hear it). */
  constructor(readonly headend: Channel, readonly away: () => boolean = () => false) {}
  send(env: Envelope): Promise<void> {
    if (this.closed) return Promise.reject(new Error('closed'));
    if (this.away()) return Promise.resolve();
    queueMicrotask(() => this.headend.receive(env));
    return Promise.resolve();
  }
  deliver(env: Envelope): void {
    queueMicrotask(() => this.#handler(env));
  }
  onEnvelope(h: EnvelopeHandler): void {
    this.#handler = h;
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
  stats(): Record<string, number> {
    return {};
  }
}

interface FakeHeadend {
  dialer: Dialer;
  opens: number;
  /** What each open named as `previous`. */
  previous: (string | undefined)[];
  reports: number;
  started: string[];
  known: Set<string>;
  refuse: number;
  /** What those refusals throw (default UNAVAILABLE). */
  refuseWith?: RemoteError;
  onLink?: (s: LinkEvent, cause?: Error) => void;
  dials: number;
  /** The head-end hears nothing while set (its own link to the broker is down). */
  away?: boolean;
  /** The head-end hears a client-started but its answer is lost, this many times (a loaded broker). */
  muteStarted?: number;
}

function headend(clock: ManualClock, reportEveryMs = 5000): FakeHeadend {
  const h: FakeHeadend = { previous: [], opens: 0, reports: 0, started: [], known: new Set(), refuse: 0, dials: 0, dialer: () => Promise.reject(new Error('unset')) };
  h.dialer = (req) => {
    h.dials++;
    h.onLink = req.onLink;
    const link: { wire?: Wire } = {};
    const ch = new Channel({
      self: { vaddr: 'weft://headend/n1/sessions' },
      clock,
      write: (env) => {
        if (env.kind === 'ack' && (h.muteStarted ?? 0) > 0) return void (h.muteStarted = (h.muteStarted ?? 0) - 1); // heard, the answer lost
        link.wire?.deliver(env);
      },
      onRequest: (env) => {
        if (env.op !== SessionOps.open) throw new RemoteError(Codes.BAD_REQUEST, 'no');
        if (h.refuse > 0 && h.refuse-- > 0) throw h.refuseWith ?? new RemoteError(Codes.UNAVAILABLE, 'busy');
        h.previous.push((env.body as { previous?: string }).previous);
        const session = `s${++h.opens}`;
        h.known.add(session);
        return { session, node: 'n1', dasp: `weft://app/${session}/ui`, modules: [], download: [], reportEveryMs };
      },
      onMessage: (env) => {
        if (env.op === SessionOps.report) h.reports++;
        if (env.op === SessionOps.clientStarted) {
          const s = (env.body as { session: string }).session;
          if (!h.known.has(s)) throw new RemoteError(Codes.NO_SESSION, `no session ${s}`);
          h.started.push(s);
        }
      },
    });
    link.wire = new Wire(ch, () => h.away === true);
    return Promise.resolve({ transport: link.wire, rttMs: () => 10 });
  };
  return h;
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

function box(h: FakeHeadend, clock: ManualClock, events: LightEvent[] = [], extra: { reportEveryMs?: number } = {}): LightBox {
  return new LightBox({ boxId: 'lb-1', profile: 'hd-dvr', dialer: h.dialer, app: { app: 'guide', version: '1.0.0' }, clock, random: seededRandom(1), onEvent: (e) => events.push(e), ...extra });
}

test('opens a session, says client-started, reports at the head-end\'s interval', async (t) => {
  const clock = new ManualClock();
  const h = headend(clock, 5000);
  const events: LightEvent[] = [];
  const b = box(h, clock, events);
  b.start();
  await settle();
  t.is(b.state, 'up', JSON.stringify(events));
  t.deepEqual(h.started, ['s1']);
  t.is(h.reports, 1, 'a report at once');
  clock.advance(5000);
  await settle();
  t.is(h.reports, 2);
  clock.advance(15_000);
  await settle();
  t.is(h.reports, 5);
  t.deepEqual(events.filter((e) => e.kind === 'state').map((e) => (e as { to: string }).to), ['connecting', 'session-setup', 'up']);
  await b.stop();
  clock.advance(60_000);
  await settle();
  t.is(h.reports, 5, 'no report after stop');
});

test('its own report interval replaces the head-end\'s (60 s for a city of boxes)', async (t) => {
  const clock = new ManualClock();
  const h = headend(clock, 5000);
  const b = box(h, clock, [], { reportEveryMs: 60_000 });
  b.start();
  await settle();
  clock.advance(59_000);
  await settle();
  t.is(h.reports, 1);
  clock.advance(1000);
  await settle();
  t.is(h.reports, 2);
  await b.stop();
});

test('after a reconnect the head-end answers NO_SESSION: the box opens a new session', async (t) => {
  const clock = new ManualClock();
  const h = headend(clock);
  const b = box(h, clock);
  b.start();
  await settle();
  h.onLink?.('down', new Error('reset'));
  t.is(b.state, 'interrupted');
  h.known.clear(); // the head-end restarted meanwhile
  h.onLink?.('up');
  await settle();
  t.is(b.state, 'up');
  t.is(h.opens, 2);
  t.is(b.session?.session, 's2');
  t.is(b.stats.reopened, 1);
  await b.stop();
});

// [wave 14] A mosquitto restart drops the head-end node too: a box back before it sends its
// client-started to no one. It was counted up at once and the unanswered confirm was dropped
// silently; now it is up only when the head-end confirms the session, and asks again until then.
test('after a reconnect the head-end does not hear the confirm: the box is not up until it asks again and is answered', async (t) => {
  const clock = new ManualClock();
  const h = headend(clock);
  const b = box(h, clock);
  b.start();
  await settle();
  t.deepEqual(h.started, ['s1']);
  h.onLink?.('down', new Error('broker restarted'));
  h.away = true; // the node is still reconnecting when the box is back
  h.onLink?.('up');
  await settle();
  t.not(b.state, 'up', 'no head-end has confirmed the session yet');
  clock.advance(5000); // the confirm's deadline: unanswered
  await settle();
  t.not(b.state, 'up');
  t.is(b.stats.confirmsUnanswered, 1, 'the unanswered confirm is counted, not dropped');
  h.away = false; // the node is back
  clock.advance(4000); // the retry's backoff (background base 2 s, half jitter)
  await settle();
  t.is(b.state, 'up');
  t.deepEqual(h.started, ['s1', 's1'], 'the same session confirmed, not a new one');
  t.is(h.opens, 1);
  t.is(h.reports, 2, 'a report once the session is confirmed (none while it was in doubt)');
  await b.stop();
});

test('a confirm whose answer is lost: the next open continues that session (previous), not a second one beside it', async (t) => {
  // [wave 15] the head-end confirmed the session (it heard client-started) and the box, not
  // hearing back, opened afresh: a confirmed session no box held (D108 does not end those).
  const clock = new ManualClock();
  const h = headend(clock);
  h.muteStarted = 1;
  const b = box(h, clock);
  b.start();
  await settle();
  t.is(b.state, 'session-setup');
  for (let i = 0; i < 40 && b.state !== 'up'; i++) {
    clock.advance(1000);
    await settle();
  }
  t.is(b.state, 'up');
  t.deepEqual(h.started, ['s1', 's2'], 'the first confirm was heard');
  t.deepEqual(h.previous, [undefined, 's1'], 'the second open names the session the box could not confirm');
  await b.stop();
});

test('a refused open is retried with backoff; a dead link dials again; no dead path counted on a flap', async (t) => {
  const clock = new ManualClock();
  const h = headend(clock);
  h.refuse = 2;
  const events: LightEvent[] = [];
  const b = box(h, clock, events);
  b.start();
  await settle();
  t.is(b.state, 'degraded');
  clock.advance(2000);
  await settle();
  clock.advance(4000);
  await settle();
  t.is(b.state, 'up');
  t.is(b.stats.openFailures, 2);
  h.onLink?.('down', new Error('reset'));
  t.false(events.some((e) => e.kind === 'link' && e.dead === true), 'a reset is a flap, not a dead path');
  h.onLink?.('up');
  await settle();
  h.onLink?.('down', new TimeoutError('probe unanswered', 100));
  await settle();
  t.true(events.some((e) => e.kind === 'link' && e.dead === true));
  t.is(h.dials, 2, 'a dead link is given up and dialed again');
  t.is(b.state, 'up');
  // The head-end never heard the session given up: the open after the dead path names it.
  t.is(h.previous.at(-1), 's1', 'the open after a dead path continues the session it gave up');
  t.is(h.previous.filter((p) => p !== undefined).length, 1);
  await b.stop();
});

test('a QUOTA (setups) answer is waited out for its hint: still in session-setup, not a failure, no growing backoff', async (t) => {
  const clock = new ManualClock();
  const h = headend(clock);
  h.refuse = 2;
  h.refuseWith = new RemoteError(Codes.QUOTA, 'past capacity', { quota: 'setups', limit: 8, retryAfterMs: 4000 });
  const events: LightEvent[] = [];
  const b = box(h, clock, events);
  const attempts = (): number => 2 - h.refuse + h.previous.length;
  b.start();
  await settle();
  t.is(b.state, 'session-setup', 'waiting to open again, not degraded');
  // The usual retry would come within 2 s (background base, jittered); the hint says 4-6 s.
  clock.advance(3999);
  await settle();
  t.is(attempts(), 1, 'no open before the hint');
  clock.advance(2001);
  await settle();
  t.is(attempts(), 2, 'the second open came within hint + half');
  clock.advance(6000);
  await settle();
  t.is(b.state, 'up');
  t.is(b.stats.deferred, 2);
  t.is(b.stats.openFailures, 0);
  t.deepEqual(events.filter((e) => e.kind === 'deferred').map((e) => (e as { inMs: number }).inMs >= 4000 && (e as { inMs: number }).inMs <= 6000), [true, true]);
  t.is(b.channelStats().deadPaths, 0);
  await b.stop();
});

test('a light fleet: arrivals on the clock, only profiles with a return channel', async (t) => {
  const clock = new ManualClock();
  const h = headend(clock);
  const fleet = startLightFleet({ count: 4, mix: { 'broadcast-only': 5, 'hd-dvr': 1 }, headend: { url: 'mqtt://x', password: () => 'p' }, app: { app: 'guide', version: '1' }, startAt: (i) => i * 100, clock }, () => h.dialer);
  t.true(fleet.boxes.every((b) => b.profile.id === 'hd-dvr'));
  await settle();
  t.deepEqual(fleet.states(), { up: 1, off: 3 });
  clock.advance(300);
  await settle();
  await fleet.started;
  t.deepEqual(fleet.states(), { up: 4 });
  t.is(fleet.watch.takeBooted().length, 4);
  t.throws(() => startLightFleet({ count: 1, mix: { 'broadcast-only': 1 }, headend: { url: 'mqtt://x', password: () => 'p' }, app: { app: 'guide', version: '1' } }, () => h.dialer), { message: /return channel/ });
  await fleet.stop();
});
