// What a live node hosts, as the policy's HostedWork (policy/load.ts): the sessions whose portion
// runs here, by app, and each shared portion or replica with its measured busy workers. The
// sampler turns it into the node's load with nodeLoad, as the simulator does [c13, c16, D16].

import type { HostedWork } from '../../policy/index.ts';

/** A shared portion or replica group on this node (headend/portions/elastic.ts Group). */
export interface HostedGroup {
  readonly app: string;
  readonly role: 'primary' | 'replica';
  readonly members: readonly string[];
  /** Busy fraction of its instances, smoothed. */
  readonly occupancy: number;
}

/**
 * Sessions hosted per app, each of cost 1 (what the session ingress asks the balancer for), and
 * the groups. A group's cost is measured, not modelled: its busy workers here (occupancy x
 * instances), which already is the share of its requests this node serves, so its share is 1.
 */
export function hostedWork(sessions: Readonly<Record<string, number>>, groups: readonly HostedGroup[]): HostedWork[] {
  const work: HostedWork[] = [];
  for (const [app, count] of Object.entries(sessions)) work.push({ app, kind: 'session', count, cost: 1 });
  for (const g of groups) {
    const busy = Math.min(1, Math.max(0, g.occupancy)) * g.members.length;
    work.push({ app: g.app, kind: g.role === 'primary' ? 'shared' : 'replica', count: 1, cost: busy });
  }
  return work;
}
