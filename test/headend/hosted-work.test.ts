// headend/stats/hosted-work.ts: what a live node hosts, in the policy's terms (DECISIONS D16).
import test from 'ava';
import { nodeLoad } from '../../policy/index.ts';
import { hostedWork } from '../../headend/stats/hosted-work.ts';

test('a live node\'s hosted work: sessions by app at cost 1, a shared group or replica by its busy workers', (t) => {
  const work = hostedWork({ guide: 3 }, [
    { app: 'guide', role: 'primary', members: ['p1', 'p2'], occupancy: 0.5 },
    { app: 'vod', role: 'replica', members: ['p3'], occupancy: 2 }, // a smoothed reading past 1 counts as fully busy
  ]);
  t.deepEqual(work.map((w) => w.kind), ['session', 'shared', 'replica']);
  t.deepEqual(nodeLoad(work), { load: 3 + 1 + 1, apps: { guide: 4, vod: 1 }, sessions: 3 });
});
