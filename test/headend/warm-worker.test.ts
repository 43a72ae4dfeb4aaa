// Warm app sandboxes in a real portion worker (issue 19.3): the first start of an app build is
// cold (a miss), the worker refills after answering it, the next start takes a warm runtime (a
// hit), and that instance does not see the first one's globals. Waits on the worker's messages.
import test from 'ava';
import type { FromWorker } from '../../headend/portions/portion-protocol.ts';
import { serverApp, WorkerUnderTest } from '../security/_portion-worker.ts';

const LEAKY = `weft.on('request', (b) => { const seen = typeof globalThis.left; globalThis.left = b; return seen; });`;
type Load = FromWorker & { t: 'load' };

/** Load reports until one satisfies `ok` (the worker posts one every 500 ms). */
async function loadUntil(w: WorkerUnderTest, ok: (l: Load) => boolean): Promise<Load> {
  for (;;) {
    const l = await w.load();
    if (ok(l)) return l;
  }
}

test('first start of a build is a miss, the refill follows the reply, the next start is a hit and isolated', async (t) => {
  const w = await WorkerUnderTest.start({ warmPerBuild: 2 });
  try {
    const app = await serverApp('warm', { m: LEAKY });
    t.like(await w.startPortion(app, 's1'), { ok: true });
    const filled = await loadUntil(w, (l) => (l.sandbox?.warm ?? 0) >= 2);
    t.like(filled.sandbox, { warm: 2, warmHits: 0, warmMisses: 1 });
    t.is((await w.answer(w.request('warm', 's1', 'm', 'secret'))).body, 'undefined');
    t.like(await w.startPortion(app, 's2'), { ok: true });
    t.is((await w.answer(w.request('warm', 's2', 'm', 'mine'))).body, 'undefined', 'the warm instance does not see s1\u2019s globals');
    t.is((await w.answer(w.request('warm', 's1', 'm', 'again'))).body, 'string', 's1 keeps its own');
    const after = await loadUntil(w, (l) => (l.sandbox?.warmHits ?? 0) >= 1 && (l.sandbox?.warm ?? 0) >= 2);
    t.like(after.sandbox, { warmHits: 1, warmMisses: 1, warm: 2 }, 'refilled to the bound again, not beyond');
    await w.stopPortion('warm', 's1');
    await w.stopPortion('warm', 's2');
  } finally {
    await w.close();
  }
});

test('warmPerBuild 0: every start is cold and nothing is kept', async (t) => {
  const w = await WorkerUnderTest.start({ warmPerBuild: 0 });
  try {
    const app = await serverApp('cold', { m: LEAKY });
    t.like(await w.startPortion(app, 's1'), { ok: true });
    t.like(await w.startPortion(app, 's2'), { ok: true });
    const l = await loadUntil(w, (x) => x.sandbox !== undefined);
    t.like(l.sandbox, { warm: 0, warmHits: 0, warmMisses: 2 });
  } finally {
    await w.close();
  }
});

// D63: a build whose modules name no typed array is refilled with lean contexts, so a warm start
// gets the same context as a cold one; a build that names one keeps every intrinsic.
const PROBE = `weft.on('request', () => typeof globalThis['Ar' + 'rayBuffer']);`;
for (const [label, source, expected] of [['names none', PROBE, 'undefined'], ['names Uint8Array', `${PROBE} // Uint8Array`, 'function']] as const) {
  test(`warm and cold starts see the same intrinsics: a build that ${label}`, async (t) => {
    const w = await WorkerUnderTest.start({ warmPerBuild: 1 });
    try {
      const app = await serverApp('lean', { m: source });
      t.like(await w.startPortion(app, 's1'), { ok: true });
      await loadUntil(w, (l) => (l.sandbox?.warm ?? 0) >= 1);
      t.like(await w.startPortion(app, 's2'), { ok: true });
      await loadUntil(w, (l) => (l.sandbox?.warmHits ?? 0) >= 1);
      t.is((await w.answer(w.request('lean', 's1', 'm', null))).body, expected, 'cold');
      t.is((await w.answer(w.request('lean', 's2', 'm', null))).body, expected, 'warm');
      await w.stopPortion('lean', 's1');
      await w.stopPortion('lean', 's2');
    } finally {
      await w.close();
    }
  });
}
