// The elastic group an app's app-wide instance leads (issue 15 leftover, DECISIONS D100, D102):
// the live code's instance leads the group of the untagged address `weft://<app>/*/<module>`
// (threads here, replicas elsewhere, grown from its load); an instance of another code (a rolling
// candidate) leads the group of its own tagged address. One group per instance: when a candidate
// becomes live and takes the untagged address, its own group ends (its extra threads drain their
// requests and stop; its replicas stop with the group). Decides and applies; counts in AppWide's counters.

import type { Group } from './elastic.ts';
import { untagged } from './shared-live.ts';
import { bindOrMove, type AppWideCounters, type AppWideHost, type Writer } from './shared-parts.ts';

export type GroupHost = Pick<AppWideHost, 'id' | 'udpAddress' | 'table' | 'elastic' | 'registry' | 'log' | 'stopInstance'> & { readonly counters: AppWideCounters };

/** The elastic group `w` leads here: its code's tagged one, or the untagged one. */
export function ledGroup(h: Pick<GroupHost, 'elastic'>, w: Writer, tagged: boolean): Group | undefined {
  return h.elastic.groups().find((g) => g.members[0] === w.iid && (g.tag !== undefined) === tagged);
}

/**
 * The untagged addresses go to the live code's instance `w`: what apps, operators and replicas
 * used before versions. Taken only when no other writer here (`writers`) has them (one table entry
 * per address); it leads their group, and the group of its tagged address ends.
 */
export async function adoptUntagged(h: GroupHost, w: Writer, writers: Iterable<Writer>): Promise<void> {
  for (const x of writers) if (x.app === w.app && x.alias) return;
  w.alias = true;
  // Served here and leading the group in this turn (the old live one gave them up in this turn too); then the registry.
  for (const m of w.modules) h.table.host(untagged(w, m), m, w.iid);
  const own = ledGroup(h, w, true);
  h.elastic.started(w.iid, true, w.app, w.modules, 'primary');
  if (own !== undefined && ledGroup(h, w, false) !== undefined) endOwnGroup(h, w, own);
  const loc = { node: h.id, queue: w.iid, udp: h.udpAddress };
  for (const m of w.modules) await bindOrMove(h, untagged(w, m), loc);
}

/**
 * This node's new writer of a code (`tag`; undefined: the live code's untagged group) is about to
 * lead its group: a replica here of a previous primary of that group (its node died, the claim came
 * here) would keep the group's key from it. The replica's group ends now; its instance stops.
 */
export async function dropStaleReplica(h: GroupHost, app: string, tag: string | undefined): Promise<void> {
  const g = h.elastic.groups().find((x) => x.role === 'replica' && x.app === app && x.tag === tag);
  if (g === undefined) return;
  const iid = g.members[0] as string;
  h.counters.replicaDropped++;
  h.log(`app-wide ${app} (${tag ?? 'live'}): this node's writer leads ${g.vaddr}; its replica ${iid} of a previous primary stops`);
  const ending = h.elastic.leave(iid); // the key is free in this turn
  await Promise.all([ending, h.stopInstance(iid)]).catch((e: unknown) => h.log(`app-wide ${app}: stopping replica ${iid}: ${(e as Error).message}`));
}

// Ends now (no new request reaches its extra threads' share); their requests finish, then they stop.
function endOwnGroup(h: GroupHost, w: Writer, g: Group): void {
  h.counters.candidateMerged++;
  h.log(`app-wide ${w.app} (${w.tag}): ${w.iid} leads the untagged group; its own group ${g.vaddr} ends`);
  h.elastic.leave(w.iid, g.vaddr).catch((e: unknown) => {
    h.counters.liveFailed++;
    h.log(`app-wide ${w.app} (${w.tag}): ending its own group ${g.vaddr}: ${(e as Error).message}`);
  });
}
