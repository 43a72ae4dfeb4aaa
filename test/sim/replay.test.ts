// sim/replay.ts: the simulator's placement bookkeeping on a recorded trace (the balance bench's
// live_vs_sim_counts). A round of opens between two reports must see each other, as the live
// balancer's ledger does: it decides after the report it reads.
import test from 'ava';
import { Balancer, SeededRandom } from '../../policy/index.ts';
import { replayTrace, type TraceEvent } from '../../sim/index.ts';

test('opens within one report round are spread: each sees the ones placed before it', (t) => {
  const nodes = ['n1', 'n2', 'n3'].map((node) => ({ node, capacity: 2 }));
  const trace: TraceEvent[] = [{ kind: 'report', at: 1000 }];
  for (let i = 0; i < 30; i++) trace.push({ kind: 'open', session: `s${i}`, app: 'guide' });
  const r = replayTrace(nodes, trace, new Balancer({ random: new SeededRandom(1).uniform() }));
  const counts = Object.values(r.hosted);
  t.is(counts.reduce((a, b) => a + b, 0), 30);
  // Before: every open read the same report and counted the round's earlier opens as already in
  // it, so the placements followed the random tie-break alone (one run: 113/128/59 of 300).
  t.true(Math.max(...counts) - Math.min(...counts) <= 1, JSON.stringify(r.hosted));
});
