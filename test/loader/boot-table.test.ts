// The boot table is data: its documented form matches the code, every state but `off` is
// reached by some row, every action is used, and step() honours guards and the wildcards.
// The channel manager's rounds are bounded and jittered (ManualClock, a scripted dialer).
import { readFileSync } from 'node:fs';
import test from 'ava';
import { ManualClock, TimeoutError } from '../../runtime/index.ts';
import { seededRandom } from '../../transport/reconnect.ts';
import { ACTIONS, BOOT_STATES, BOOT_TABLE, ChannelManager, DEFAULT_CHANNEL_POLICY, formatTable, step } from '../../loader/index.ts';
import type { ChannelEvent, Dialer, ReturnChannel } from '../../loader/index.ts';

test('loader/README.md and docs/BOX.md show the table the code runs', (t) => {
  const table = formatTable();
  for (const doc of ['loader/README.md', 'docs/BOX.md']) {
    const text = readFileSync(new URL(`../../${doc}`, import.meta.url), 'utf8');
    t.true(text.includes(table), `${doc} has the current table`);
  }
});

test('every state is reachable and every action used', (t) => {
  const reached = new Set(BOOT_TABLE.map((r) => r.to));
  for (const s of BOOT_STATES) if (s !== 'off') t.true(reached.has(s), s);
  const used = new Set(BOOT_TABLE.map((r) => r.action));
  for (const a of ACTIONS) t.true(used.has(a), a);
});

test('step() takes the first row whose guard holds, ignores events with no row', (t) => {
  const f = { twoWay: true, linkUp: false, fallbacks: 0 };
  t.is(step('starting', 'started', f)?.to, 'connecting');
  t.is(step('starting', 'started', { ...f, linkUp: true })?.to, 'session-setup', 'a restart with the link up goes straight to the session');
  t.is(step('starting', 'started', { ...f, twoWay: false })?.to, 'acquiring-fallback-1');
  t.is(step('session-setup', 'session-failed', { ...f, fallbacks: 2 })?.to, 'degraded');
  t.is(step('degraded', 'dial-failed', f), undefined, 'background failures change nothing');
  t.is(step('degraded', 'retry-session', f), undefined, 'no session retry without the link');
  t.is(step('up', 'update', f)?.action, 'restart-app');
  t.is(step('acquiring-boot', 'update', f), undefined, 'nothing runs yet: the verified tier itself is the news');
  t.is(step('stopped', 'boot', f), undefined);
  t.is(step('degraded', 'stop', f)?.to, 'stopped');
});

function scripted(outcomes: ('dead' | 'refused' | 'ok')[], clock: ManualClock): { dialer: Dialer; asked: { rttMs: number; consecutiveTimeouts: number }[] } {
  const asked: { rttMs: number; consecutiveTimeouts: number }[] = [];
  const dialer: Dialer = (r) => {
    asked.push({ rttMs: r.rttMs, consecutiveTimeouts: r.consecutiveTimeouts });
    const o = outcomes.shift() ?? 'dead';
    if (o === 'ok') return Promise.resolve({ transport: { close: async () => {} } as unknown as ReturnChannel['transport'], rttMs: () => 12 });
    return Promise.reject(o === 'dead' ? new TimeoutError('dead path', 3 * r.rttMs + 50) : new Error('refused'));
  };
  void clock;
  return { dialer, asked };
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

test('a round is bounded, its delays jittered within the backoff, dead paths counted; background keeps going', async (t) => {
  const clock = new ManualClock();
  const { dialer, asked } = scripted(['dead', 'dead', 'refused', 'dead', 'dead', 'dead', 'ok'], clock);
  const events: ChannelEvent[] = [];
  const policy = { ...DEFAULT_CHANNEL_POLICY, rttMs: 40 };
  const m = new ChannelManager(dialer, clock, seededRandom(3), policy, (e) => events.push(e));
  m.round();
  await flush();
  t.is(asked.length, 1, 'the first attempt is immediate');
  t.like(events[0], { kind: 'failed', attempt: 1, deadPath: true });
  // Attempt 2 waits d in [base(1 - jitter), base) = [125, 250) ms.
  clock.advance(124);
  await flush();
  t.is(asked.length, 1);
  clock.advance(126);
  await flush();
  t.is(asked.length, 2);
  t.deepEqual(asked[1], { rttMs: 40, consecutiveTimeouts: 1 }, 'the dialer doubles its timeout after a dead path');
  clock.advance(600);
  await flush();
  t.is(asked.length, 3);
  t.is(asked.at(-1)?.consecutiveTimeouts, 2);
  t.like(events.at(-1), { kind: 'round-over', attempts: 3 });
  clock.advance(60_000);
  await flush();
  t.is(asked.length, 3, 'bounded: nothing more until asked');
  m.background();
  for (let i = 0; i < 4; i++) {
    clock.advance(60_000);
    await flush();
  }
  t.is(asked.length, 7);
  t.like(events.at(-1), { kind: 'up', attempt: 4 });
  t.true(m.linkUp);
  t.is(m.stats().deadPaths, 5);
  await m.stop();
});
