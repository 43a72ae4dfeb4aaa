// [issue 15] A version switch on the box keeps the old version's channels for the replies to its
// requests still on the wire (loader/switch-linger.ts): a request the head-end answers after the
// switch's 5 s wait is answered, not failed CLOSED (120 CLOSED in a 1,000-box rollout at load
// 21-25); a reply reaches only the version that sent the request; an incoming request goes only
// to the version running now; what is kept closes once nothing is pending on it. The box's
// sequence (loader/box.ts #endApp, #startApp) on two switches, a manual clock, a hand transport.
import test from 'ava';
import { BoxSwitch } from '../../loader/switch.ts';
import { MAX_KEPT, SWEEP_MS, SwitchLinger } from '../../loader/switch-linger.ts';
import { RequestLedger } from '../../loader/request-ledger.ts';
import type { Cpu } from '../../loader/ports.ts';
import { Channel, Codes, type Envelope, type EnvelopeHandler, ManualClock, type Transport } from '../../runtime/index.ts';
import type { ModuleSandbox } from '../../sandbox/index.ts';

const cpu: Cpu = { run: async (fn) => fn(), load: () => 0, now: () => 0 };
const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

interface Outcome {
  state: 'pending' | 'ok' | 'failed';
  code?: number;
  value?: unknown;
}

function rig() {
  const clock = new ManualClock(0);
  const ledger = new RequestLedger(clock);
  const linger = new SwitchLinger(clock);
  const sent: Envelope[] = [];
  let handler: EnvelopeHandler = () => {};
  const t: Transport = { kind: 'hand', address: { vaddr: 'weft://box/b1/link' }, closed: false, send: (env) => (sent.push(env), Promise.resolve()), onEnvelope: (h) => void (handler = h), close: () => Promise.resolve(), stats: () => ({}) };
  const version = (): BoxSwitch => {
    const sw = new BoxSwitch({ app: 'guide', boxId: 'b1', cpu, clock, timeoutMs: 5000, ledger, linger, expecting: () => true });
    sw.attach(t);
    sw.setSession('s1');
    sw.sessionReady();
    return sw;
  };
  const reply = (to: Envelope, body: unknown): void => handler({ v: 1, kind: 'rep', id: 9_000 + sent.length, corr: to.id, src: to.dst, dst: to.src, body });
  const ask = (sw: BoxSwitch, timeoutMs: number, from = 'ui'): Outcome => {
    const o: Outcome = { state: 'pending' };
    sw.link(from).request({ vaddr: 'weft://guide/local/search' }, { q: 'a' }, { timeoutMs }).then(
      (value) => Object.assign(o, { state: 'ok', value }),
      (e: unknown) => Object.assign(o, { state: 'failed', code: (e as { code?: number }).code }),
    );
    return o;
  };
  /** The box's switch (Box #endApp then #startApp): the old version settles (at most 5 s), retires,
   *  drops its session and detaches; the new one attaches to the same link and continues the session. */
  const switchVersion = async (old: BoxSwitch): Promise<BoxSwitch> => {
    const retired = old.retire();
    await flush();
    clock.advance(5000);
    await retired;
    old.setSession(undefined);
    old.detach();
    return version();
  };
  return { clock, ledger, linger, sent, handler: (env: Envelope) => handler(env), version, reply, ask, switchVersion };
}

test('a request still unanswered when the switch\'s 5 s wait ends is answered after the switch, not failed CLOSED', async (t) => {
  const r = rig();
  const old = r.version();
  const first = r.ask(old, 8000); // a module's own longer deadline (or one asked late in the wait)
  await flush();
  await r.switchVersion(old);
  await flush();
  t.is(first.state, 'pending', 'the switch did not cut it');
  t.is(r.linger.kept.size, 1, 'its channel is kept');
  r.reply(r.sent[0] as Envelope, { hits: ['News'] });
  await flush();
  t.like(first, { state: 'ok', value: { hits: ['News'] } });
  t.like(r.ledger.counts(), { sent: 1, ok: 1, failed: 0 });
  r.clock.advance(SWEEP_MS);
  t.is(r.linger.kept.size, 0, 'nothing is pending on it any more: closed and let go');
});

test('each reply reaches the version that sent its request: the same address on both, ids that go on', async (t) => {
  const r = rig();
  const old = r.version();
  const before = r.ask(old, 8000);
  await flush();
  const neu = await r.switchVersion(old);
  const after = r.ask(neu, 4000);
  await flush();
  const [a, b] = r.sent.filter((e) => e.kind === 'req') as [Envelope, Envelope];
  t.is(b.src.vaddr, a.src.vaddr, 'the session and the module are the same across the switch');
  t.is(b.id, (a.id + 1) >>> 0, 'the new channel takes ids after the old one\'s: no id waits on both');
  r.reply(b, { v: 'new' });
  await flush();
  t.like(after, { state: 'ok', value: { v: 'new' } });
  t.is(before.state, 'pending', 'the new version\'s reply did not settle the old request');
  r.reply(a, { v: 'old' });
  await flush();
  t.like(before, { state: 'ok', value: { v: 'old' } });
  r.reply(a, { v: 'again' }); // a duplicate: no one waits for it any more
  await flush();
  t.like(r.ledger.counts(), { sent: 2, ok: 2, failed: 0 });
});

test('a request arriving after the switch goes to the new version\'s module only, never through a kept channel', async (t) => {
  const r = rig();
  const served: string[] = [];
  const fake = (v: string): ModuleSandbox => ({ name: 'ui', serve: (body: unknown) => (served.push(v), Promise.resolve({ v, body })), deliver: () => ({ ok: true, value: undefined }) }) as unknown as ModuleSandbox;
  const old = r.version();
  old.setLocal('ui', fake('old'));
  r.ask(old, 8000, 'ui'); // the ui channel has a request pending: it is kept
  await flush();
  const neu = await r.switchVersion(old);
  neu.setLocal('ui', fake('new'));
  t.is(r.linger.kept.size, 1);
  const sentBefore = r.sent.length;
  r.handler({ v: 1, kind: 'req', id: 77, src: { vaddr: 'weft://guide/s1/server' }, dst: { vaddr: 'weft://guide/s1/ui' }, body: { q: 1 } });
  await flush();
  t.deepEqual(served, ['new']);
  const answers = r.sent.slice(sentBefore);
  t.is(answers.length, 1, 'answered once');
  t.like(answers[0], { kind: 'rep', corr: 77, body: { v: 'new' } });
});

test('a kept request that gets no answer ends by its own deadline (TIMEOUT, not CLOSED); then its channel goes', async (t) => {
  const r = rig();
  const old = r.version();
  const late = r.ask(old, 8000);
  await flush();
  await r.switchVersion(old);
  r.clock.advance(2999);
  await flush();
  t.is(late.state, 'pending');
  r.clock.advance(1);
  await flush();
  t.like(late, { state: 'failed', code: Codes.TIMEOUT });
  r.clock.advance(SWEEP_MS);
  t.is(r.linger.kept.size, 0);
  t.like(r.ledger.counts(), { sent: 1, failed: 1, ok: 0 });
});

test('channels with nothing pending are not kept; at most MAX_KEPT are, the oldest closing first; close() ends them', async (t) => {
  const clock = new ManualClock(0);
  const linger = new SwitchLinger(clock);
  const wheels = new ManualClock(0); // the channels' own deadline timers, apart from the linger's
  const channel = (i: number): { ch: Channel; outcome: Outcome } => {
    const ch = new Channel({ self: { vaddr: `weft://guide/s${i}/ui` }, write: () => undefined, clock: wheels, timeoutMs: 60_000 });
    const outcome: Outcome = { state: 'pending' };
    ch.request({ vaddr: 'weft://headend/n/x' }, {}).then(
      () => (outcome.state = 'ok'),
      (e: unknown) => Object.assign(outcome, { state: 'failed', code: (e as { code?: number }).code }),
    );
    return { ch, outcome };
  };
  const idle = new Channel({ self: { vaddr: 'weft://guide/s0/epg' }, write: () => undefined, clock });
  linger.keep([idle]);
  t.is(linger.kept.size, 0, 'nothing pending: closed at once');
  t.true(idle.closed);
  const all = Array.from({ length: MAX_KEPT + 1 }, (_, i) => channel(i + 1));
  for (const c of all) linger.keep([c.ch]);
  await flush();
  t.is(linger.kept.size, MAX_KEPT);
  t.is(clock.pending, 1, 'one sweep timer however many keeps');
  t.like(all[0]?.outcome, { state: 'failed', code: Codes.CLOSED }, 'the oldest went first');
  t.true(all.slice(1).every((c) => c.outcome.state === 'pending'));
  linger.close();
  await flush();
  t.is(linger.kept.size, 0);
  t.is(clock.pending, 0, 'no timer left');
  t.true(all.every((c) => c.outcome.state === 'failed' && c.outcome.code === Codes.CLOSED));
});
