// One head-end node process for bench/balance part (c): the composition root `weft headend node`
// uses (startHeadend on a shared broker and registry), given a seeded Weft balancer that appends
// each (view, request, choice) it makes to a file. Bench code only: the deployed node records nothing.
// Speaks JSON lines on stdout: ready, cluster (it sees every node), hosted (at SIGTERM).

import { appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Result } from '../runtime/index.ts';
import { startHeadend } from '../headend/main.ts';
import { Balancer, SeededRandom, type ClusterView, type NoCapacity, type Placement, type PlaceRequest, type PlacementPolicy } from '../policy/index.ts';
import type { Decision } from './_balance-compare.ts';

/** Weft's balancer, seeded, appending every decision to `file` as a JSON line before answering. */
class RecordingBalancer implements PlacementPolicy {
  readonly name = 'weft';
  readonly #inner: Balancer;
  readonly #file: string;
  constructor(seed: number, file: string) {
    this.#inner = new Balancer({ random: new SeededRandom(seed).uniform() });
    this.#file = file;
  }
  place(view: ClusterView, req: PlaceRequest): Result<Placement, NoCapacity> {
    const r = this.#inner.place(view, req);
    const d: Decision = { view, req, node: r.ok ? r.value.node : undefined };
    appendFileSync(this.#file, `${JSON.stringify(d)}\n`);
    return r;
  }
}

const say = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    strict: true,
    options: {
      node: { type: 'string' },
      broker: { type: 'string' },
      password: { type: 'string' },
      registry: { type: 'string' },
      apps: { type: 'string' },
      keys: { type: 'string' },
      interval: { type: 'string' },
      seed: { type: 'string' },
      record: { type: 'string' },
      expect: { type: 'string' },
    },
  });
  const need = (k: keyof typeof v): string => {
    const s = v[k];
    if (typeof s !== 'string') throw new Error(`_balance-node: --${k} is required`);
    return s;
  };
  const clusterKey = process.env.WEFT_CLUSTER_KEY;
  const masterKey = process.env.WEFT_BENCH_MASTER_KEY;
  if (clusterKey === undefined || masterKey === undefined) throw new Error('_balance-node: WEFT_CLUSTER_KEY and WEFT_BENCH_MASTER_KEY are required');
  const h = await startHeadend({
    node: need('node'),
    broker: need('broker'),
    password: need('password'),
    registry: need('registry'),
    apps: need('apps'),
    keys: need('keys'),
    clusterKey,
    masterKey,
    carousel: 'off',
    intervalMs: Number(need('interval')),
    policy: new RecordingBalancer(Number(need('seed')), need('record')),
    log: (l) => process.stderr.write(`${need('node')}: ${l}\n`),
  });
  const n = h.node;
  say({ event: 'ready', node: n.id });
  // Tell the bench once this node's view holds every node (it waits on that, not on a time).
  const expect = Number(need('expect'));
  const seen = setInterval(() => {
    if (n.statistics.clusterView().nodes.length < expect) return;
    clearInterval(seen);
    say({ event: 'cluster', node: n.id, nodes: expect });
  }, 20);
  await new Promise<void>((resolve) => process.once('SIGTERM', resolve));
  clearInterval(seen);
  say({ event: 'hosted', node: n.id, sessions: n.sessions.count, counters: n.counters });
  await h.close();
}

main().catch((e: unknown) => {
  process.stderr.write(`_balance-node: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
