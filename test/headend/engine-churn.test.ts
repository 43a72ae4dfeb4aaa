// Wave 20: starts and stops of three apps interleaved on one portion thread, with stops that
// overtake their starts and engines small enough to roll over many times (seeded, so a failure
// replays). Holds the three fixes together: engines roll over before QuickJS runs out (D120), a
// stop waits for the start it overtook (D121), a warm pool lets go of rolled engines. Before
// them, starts failed out of memory, stopped instances ran on, rolled engines stayed held.
import test from 'ava';
import { serverApp, WorkerUnderTest } from '../security/_portion-worker.ts';

/** A module holding `n` numbers: ~8n bytes of QuickJS heap per instance. */
const holding = (n: number): string => `const held = new Array(${n}).fill(1); weft.on('request', () => held.length);`;

test('seeded churn of three apps: every start succeeds, every stop ends its instance, and only the warm pools hold engines at the end', async (t) => {
  let seed = 20;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const w = await WorkerUnderTest.start({ engineMemoryBytes: 32 << 20, appMemoryBytes: 256 << 20, warmPerBuild: 2 });
  try {
    const apps = await Promise.all([2_000, 60_000, 200_000].map((n, i) => serverApp(`app${i}`, { m: holding(n), n: `weft.on('request', () => 'n');` })));
    const live = new Map<string, string>();
    const failed: string[] = [];
    let pending: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      const keys = [...live.keys()];
      if (rnd() < 0.55 || keys.length === 0) {
        const app = apps[Math.floor(rnd() * apps.length)] as (typeof apps)[number];
        live.set(`s${i}`, app.app);
        pending.push(w.startPortion(app, `s${i}`).then((r) => r.ok || failed.push(r.error)));
      } else {
        const s = keys[Math.floor(rnd() * keys.length)] as string;
        pending.push(w.stopPortion(live.get(s) as string, s));
        live.delete(s);
      }
      // Most operations are posted without waiting: stops overtake starts.
      if (rnd() < 0.2) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    pending = [];
    t.deepEqual(failed, [], 'every start succeeded');
    for (const [s, app] of live) t.is((await w.answer(w.request(app, s, 'n', null))).body, 'n', `${app}/${s} answers`);
    for (const [s, app] of live) await w.stopPortion(app, s);
    const load = await w.load();
    t.true((load.sandbox?.rolled ?? 0) >= 2, `engines rolled over: ${JSON.stringify(load.sandbox)}`);
    t.is(load.sandbox?.retired, 0, 'no engine faulted');
    t.true((load.sandbox?.engines ?? 99) <= apps.length, `only the warm pools' engines are left: ${load.sandbox?.engines}`);
  } finally {
    await w.close();
  }
});
