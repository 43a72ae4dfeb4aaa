// [issue 15] Requests around a version switch, on the box's switch alone (loader/switch.ts), with a
// manual clock and a hand transport. Found in the rollout bench's per-box ledgers (200 boxes,
// keys every 2 s): requests that waited for the new version's session and expired were counted
// nowhere (199 in one run: not sent, not failed), and requests still in flight 2 s into a switch
// were failed CLOSED by it while the head-end was answering them (79 in the same run).
import test from 'ava';
import { BoxSwitch } from '../../loader/switch.ts';
import { Codes, type Envelope, type EnvelopeHandler, ManualClock, type Transport } from '../../runtime/index.ts';
import type { Cpu } from '../../loader/ports.ts';

const cpu: Cpu = { run: async (fn) => fn(), load: () => 0, now: () => 0 };
const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

function rig(session: string | undefined): { clock: ManualClock; sw: BoxSwitch; sent: Envelope[]; answer: (to: Envelope) => void } {
  const clock = new ManualClock(0);
  const sw = new BoxSwitch({ app: 'guide', boxId: 'b1', cpu, clock, timeoutMs: 5000, expecting: () => true });
  const sent: Envelope[] = [];
  let handler: EnvelopeHandler = () => {};
  const t: Transport = { kind: 'hand', address: { vaddr: 'weft://box/b1/link' }, closed: false, send: (env) => (sent.push(env), Promise.resolve()), onEnvelope: (h) => void (handler = h), close: () => Promise.resolve(), stats: () => ({}) };
  sw.attach(t);
  if (session !== undefined) sw.setSession(session);
  const answer = (to: Envelope): void => handler({ v: 1, kind: 'rep', id: 9_000 + sent.length, corr: to.id, src: to.dst, dst: to.src, body: { hits: [] } });
  return { clock, sw, sent, answer };
}

const ask = (sw: BoxSwitch, timeoutMs: number): { state: string; code?: number } => {
  const o: { state: string; code?: number } = { state: 'pending' };
  sw.link('ui').request({ vaddr: 'weft://guide/local/search' }, { q: 'a' }, { timeoutMs }).then(
    () => (o.state = 'ok'),
    (e: unknown) => Object.assign(o, { state: 'failed', code: (e as { code?: number }).code }),
  );
  return o;
};

test('a request that waits for a session and expires is counted sent and failed TIMEOUT', async (t) => {
  const { clock, sw } = rig(undefined); // the new version started; its session is being re-paired
  const r = ask(sw, 4000);
  await flush();
  clock.advance(4001);
  await flush();
  t.like(r, { state: 'failed', code: Codes.TIMEOUT });
  t.like(sw.stats().requests, { sent: 1, failed: 1, ok: 0 }, 'the ledger saw it: nothing vanishes');
});

test('a request that waited for the session and then went is counted once, with what was left of its deadline', async (t) => {
  const { clock, sw, sent, answer } = rig(undefined);
  const r = ask(sw, 4000);
  clock.advance(3000);
  sw.setSession('s1');
  sw.sessionReady();
  await flush();
  t.is(sent.length, 1);
  answer(sent[0] as Envelope);
  await flush();
  t.is(r.state, 'ok');
  t.like(sw.stats().requests, { sent: 1, ok: 1, failed: 0 });
});

test('a switch waits for a request in flight past 2 s: it is answered, not failed CLOSED', async (t) => {
  const { clock, sw, sent, answer } = rig('s1');
  const r = ask(sw, 4000);
  await flush();
  let settled = false;
  void sw.settled().then(() => (settled = true));
  clock.advance(2500); // a loaded head-end: the answer takes 3 s
  await flush();
  t.false(settled, 'the switch still waits: dropping the session now fails the request CLOSED');
  answer(sent[0] as Envelope);
  await flush();
  t.true(settled);
  t.is(r.state, 'ok');
});

test('a switch also waits for what the old version sends meanwhile, up to 5 s: nothing is left to fail CLOSED', async (t) => {
  const { clock, sw, sent, answer } = rig('s1');
  const first = ask(sw, 4000);
  await flush();
  let settled = false;
  void sw.settled().then(() => (settled = true));
  clock.advance(1000);
  const later = ask(sw, 4000); // the old version still runs and asks again meanwhile
  await flush();
  answer(sent[0] as Envelope);
  await flush();
  t.is(first.state, 'ok');
  t.false(settled, 'the later request is still on the wire');
  answer(sent[1] as Envelope);
  await flush();
  t.is(later.state, 'ok');
  t.true(settled);
});

test('a switch waits no longer than 5 s, whatever is still in flight', async (t) => {
  const { clock, sw } = rig('s1');
  ask(sw, 60_000); // a module's own long deadline
  await flush();
  let settled = false;
  void sw.settled().then(() => (settled = true));
  clock.advance(4999);
  await flush();
  t.false(settled);
  clock.advance(1);
  await flush();
  t.true(settled);
});

test('a request waiting for a session does not hold a switch', async (t) => {
  const { sw } = rig(undefined);
  ask(sw, 4000);
  await flush();
  let settled = false;
  void sw.settled().then(() => (settled = true));
  await flush();
  t.true(settled);
});
