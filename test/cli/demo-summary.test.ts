// `weft demo --json`: the summary as one JSON object per line carries what the text shows (node
// rows, counters, each box's state, session, where search runs and its screen), and parses back.
import test from 'ava';
import type { HeadendNode } from '../../headend/index.ts';
import { summaryObject, type BoxRow } from '../../cli/demo-summary.ts';

const node = {
  statistics: { view: () => ({ nodes: [{ state: 'ok', stats: { node: 'node-1', sessions: 3, workers: 2, cpu: { util: 0.25 }, memory: { rss: 9e7 }, loop: { p99Ms: 4 } } }] }) },
  counters: { dispatched: 40, forwarded: 2, undeliverable: 0, clientStarted: 3, moved: 0, notMine: 0 },
  sessions: { counters: { downloads: 2, reports: 5 } },
} as unknown as HeadendNode;

test('the demo summary as JSON: nodes, counters and boxes, with search in words as the text has it', (t) => {
  const rows: BoxRow[] = [
    { id: 'stb-legacy', profile: 'legacy-sd', note: '', state: 'up', session: { session: 's1' } as BoxRow['session'], search: 'remote', screen: { screen: 'guide' } },
    { id: 'stb-cut', profile: 'hd-dvr', note: '', state: 'degraded', session: undefined, search: 'none', screen: undefined },
  ];
  const o = JSON.parse(JSON.stringify(summaryObject(node, rows, 12.4))) as { event: string; s: number; nodes: { node: string; sessions: number }[]; counters: Record<string, number>; boxes: { id: string; session: string | null; search: string; screen: unknown }[] };
  t.is(o.event, 'summary');
  t.is(o.s, 12);
  t.deepEqual(o.nodes.map((n) => [n.node, n.sessions]), [['node-1', 3]]);
  t.like(o.counters, { dispatched: 40, downloads: 2, reports: 5 });
  t.deepEqual(o.boxes.map((b) => [b.id, b.session, b.search]), [['stb-legacy', 's1', 'head-end'], ['stb-cut', null, 'fallback']]);
  t.is(o.boxes[1]?.screen, null);
});
