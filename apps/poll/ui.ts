// poll/ui: client module (boot tier). Shows the question and the totals on the box; keys 1-3
// vote. Votes go one at a time to the app-wide `tally` module through the box's session, each
// named by a rid that survives retries (and reboots: the sequence is in app storage), so a vote
// retried after a fault counts once. A failed vote is retried with backoff until it is counted.

import type { Weft } from '../weft-api.ts';
import { OPTIONS, QUESTION, isTotals, type Totals } from './shared.ts';

declare const weft: Weft;

type Status = 'waiting' | 'ready' | 'retrying';

const queue: number[] = [];
let last: Totals | undefined;
let status: Status = 'waiting';
let sending = false;
let sent = 0;
let acked = 0;
let retries = 0;

function stored(key: string): number {
  const v = weft.storage?.get(key);
  return typeof v === 'number' ? v : 0;
}

function render(): void {
  weft.ui?.show({
    screen: 'poll',
    question: QUESTION,
    options: OPTIONS.map((label, i) => ({ key: String(i + 1), label, votes: last?.totals[i] ?? 0 })),
    votes: last?.votes ?? 0,
    status,
    sent,
    acked,
    pending: queue.length,
    retries,
  });
}

async function refresh(): Promise<void> {
  try {
    const r = await weft.request(weft.address('tally'), { op: 'totals' }, { timeout: 4000 });
    if (isTotals(r)) last = r;
    if (status === 'waiting') status = 'ready';
  } catch {
    /* the session is not up yet: the 'session' event asks again */
  }
  render();
}

// One vote in flight at a time; its rid is fixed before the first try, so every retry is the same vote.
async function pump(): Promise<void> {
  if (sending || queue.length === 0) return;
  sending = true;
  const choice = queue[0] as number;
  const seq = stored('seq') + 1;
  weft.storage?.set('seq', seq);
  const rid = `v${seq}`;
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await weft.request(weft.address('tally'), { op: 'vote', choice, rid }, { timeout: 4000 });
      if (isTotals(r)) last = r;
      status = 'ready';
      break;
    } catch (e) {
      retries++;
      status = 'retrying';
      weft.log.warn(`vote ${rid} failed (${(e as { code?: number }).code ?? '?'}), retrying`);
      render();
      await new Promise<void>((resolve) => weft.setTimeout(resolve, Math.min(4000, 250 * 2 ** Math.min(attempt, 4))));
    }
  }
  queue.shift();
  acked++;
  weft.storage?.set('acked', stored('acked') + 1);
  sending = false;
  render();
  void pump();
}

weft.on('start', () => {
  render();
  void refresh();
});

weft.on('session', ({ state }) => {
  if (state === 'up' || state === 'moved') void refresh();
});

weft.on('key', (key) => {
  const i = Number(key) - 1;
  if (!Number.isInteger(i) || i < 0 || i >= OPTIONS.length) return;
  queue.push(i);
  sent++;
  render();
  void pump();
});
