// The two-node deterministic tier of the app-wide versions tests (issue 15.6 and its leftovers):
// the live 1.0.0 and the candidate 1.0.1 of the poll app on every node, one manual clock, an
// in-thread portion host, a shared memory registry and checkpoint store. Set-up only; no verdicts.
import { ManualClock } from '../../runtime/index.ts';
import { SeededRandom } from '../../policy/index.ts';
import type { ElasticOptions } from '../../headend/portions/elastic.ts';
import { decodeManifest } from '../../runtime/app/index.ts';
import type { PublishedApp } from '../../headend/app-catalog.ts';
import type { ChangeListener } from '../../headend/registry/registry.ts';
import { MemoryCheckpoints } from '../../headend/portions/shared-app.ts';
import { signedApp } from './apps.ts';
import { memoryNode, memoryRegistry, type MemoryNode } from './headend.ts';
import { MemoryNet } from './memory-net.ts';
import { here, clockStepper } from './memory-tier.ts';
import { poll, pollBox, tally } from './poll-app.ts';

export const INTERVAL = 1000;

export async function versions(sameShared = false) {
  const a = await signedApp('poll', poll(`weft.on('request', (b) => b);`), '1.0.0');
  const b = await signedApp('poll', poll(`weft.on('request', (b) => b);${sameShared ? '' : '\n// 1.0.1'}`), '1.0.1', a.key);
  return { v100: a.pub, v101: b.pub, trusted: a.trusted };
}

export async function cluster(sameShared = false, seed?: (c: MemoryCheckpoints) => void, lateOn?: string, elastic?: ElasticOptions) {
  const { v100, v101, trusted } = await versions(sameShared);
  const clock = new ManualClock();
  const net = new MemoryNet();
  const registry = memoryRegistry(clock);
  const checkpoints = new MemoryCheckpoints();
  seed?.(checkpoints);
  const nodes: MemoryNode[] = [];
  // `lateOn`: that node hears no session changes from the registry (a change feed that is late).
  const late = new Proxy(registry, {
    get(target, p) {
      if (p === 'watch') return (l: ChangeListener) => target.watch((ch) => (ch.kind === 'session' ? undefined : l(ch)));
      const v = Reflect.get(target, p, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  for (const id of ['n1', 'n2']) nodes.push(await memoryNode({ id, net, clock, registry: id === lateOn ? late : registry, apps: [v100], trusted, intervalMs: INTERVAL, policy: here(id), modules: { tally }, appWide: { checkpoints }, replicas: { random: new SeededRandom(7).uniform() }, ...(elastic === undefined ? {} : { elastic }) }));
  // A rollout: 1.0.1 is the candidate beside the live 1.0.0 on every node.
  for (const n of nodes) n.catalog.add(v101, { current: false });
  for (const n of nodes) await n.refreshPeers();
  const { box, transport: boxT, open, vote } = pollBox(net, clock);
  const advance = clockStepper(clock, INTERVAL);
  const promote = (pub: PublishedApp): void => {
    for (const n of nodes) n.catalog.add(pub);
  };
  const wide = (): string[] => nodes.flatMap((n) => [...n.pool.instances.values()].filter((p) => p.session === '*').map((p) => `${n.id}:${decodeManifest(p.manifest).version}`)).sort();
  const close = async (): Promise<void> => {
    for (const n of nodes) await n.close();
    await boxT.close();
    await registry.close();
  };
  await advance(2 * INTERVAL);
  return { v100, v101, trusted, clock, net, registry, checkpoints, nodes: nodes as [MemoryNode, MemoryNode], box, open, vote, promote, wide, advance, close };
}

// [issue 15 leftover] Threads and replicas grow from the elastic group of the untagged address,
// which only the live code's instance leads: a candidate made live takes it over at once.
export const GROUP = 'weft://poll/*/tally';
/** Step the clock until `done` (the hand-over's registry writes settle over a few turns), 2 s of steps at most. */
export async function settle(c: { advance: (ms: number) => Promise<unknown> }, done: () => boolean): Promise<void> {
  for (let i = 0; i < 40 && !done(); i++) await c.advance(50);
}

