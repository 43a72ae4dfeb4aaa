// `weft headend drain <node>`: ask a running head-end's console (the operator token, like
// `weft app`) to drain a node of its cluster: no new work there, its sessions and portions moved
// with their state at a rate cap, then it leaves (headend/node/drain.ts). --wait follows it out.
import type { Command } from 'commander';
import { call, print, type Common } from './app.ts';
import { intOption, numberOption, UserError } from './user-error.ts';

interface DrainFlags extends Common {
  rate?: number;
  wait?: boolean;
  timeout: number;
}

interface Progress {
  node: string;
  state: string;
  total: number;
  moved: number;
  failed: number;
  remaining: number;
  lastError?: string;
}

interface StateView {
  node: string;
  nodes: { node: string; state: string }[];
  drain?: Omit<Progress, 'node'>;
}

const ENDED = new Set(['left', 'drained', 'stuck']);

function line(p: Progress): string {
  return `${p.node}: ${p.state}, ${p.moved} of ${p.total} moved, ${p.remaining} left${p.failed > 0 ? `, ${p.failed} failed${p.lastError === undefined ? '' : ` (${p.lastError})`}` : ''}`;
}

// The drain as the console sees it: its own node's progress, or a peer's row (gone or dead once it left).
async function progress(o: DrainFlags, node: string, last: Progress): Promise<Progress> {
  let s: StateView;
  try {
    s = (await call(o, 'GET', 'api/state')) as StateView;
  } catch (e) {
    // The console of the drained node itself goes away with the process once the node left.
    if (last.state === 'draining' && node === last.node) return { ...last, state: 'left', remaining: 0 };
    throw e;
  }
  if (s.node === node && s.drain !== undefined) return { node, ...s.drain };
  const row = s.nodes.find((n) => n.node === node);
  return row === undefined || row.state === 'dead' ? { ...last, state: 'left', remaining: 0 } : { ...last, state: row.state === 'ok' ? 'draining' : row.state };
}

async function drain(node: string, o: DrainFlags): Promise<void> {
  const body = o.rate === undefined ? { node } : { node, ratePerS: o.rate };
  const r = (await call(o, 'POST', 'api/actions/drain', body)) as { result: Progress };
  let p = { ...r.result, node };
  print(o, p, () => `drain started: ${line(p)}`);
  if (o.wait !== true) return;
  const end = Date.now() + o.timeout * 1000;
  while (!ENDED.has(p.state)) {
    if (Date.now() > end) throw new UserError(`${node} did not finish draining within ${o.timeout} s (${line(p)})`, 'see the console, or wait longer with --timeout');
    await new Promise((res) => setTimeout(res, 250));
    const next = await progress(o, node, p);
    if (next.state !== p.state || next.moved !== p.moved) print(o, next, () => line(next));
    p = next;
  }
  if (p.state === 'stuck') throw new UserError(`${node} could not move everything: ${line(p)}`, 'add capacity (another node) and drain again');
}

export function registerDrain(headend: Command): void {
  headend
    .command('drain <node>')
    .description("drain a node through a console of its cluster: no new sessions there, its sessions and portions move with their state, then it leaves and its process exits")
    .requiredOption('--headend <url>', "a console URL of the cluster (printed in a node's ready line)")
    .option('--token <token>', 'operator token (default: WEFT_CONSOLE_TOKEN)')
    .option('--rate <n>', 'moves per second at most (default 20)', numberOption(0.001, 10_000))
    .option('--wait', 'follow the drain until the node has left (or is stuck: exit 2)')
    .option('--timeout <s>', 'with --wait: the longest wait', intOption(1, 86_400), 600)
    .option('--json', 'print each progress as one JSON object per line')
    .action(async (node: string, o: DrainFlags) => drain(node, o));
}
