// Node death for bench/faults: placeholder while the restart scenarios are brought up.
import type { JsonChild } from './_faults-procs.ts';

export interface NodeDeathSpec {
  work: string;
  master: string;
  nodePassword: string;
  clusterKeyFile: string;
  sessions: number;
  children: { stop: () => Promise<void> }[];
  log: (msg: string) => void;
}

export async function nodeDeath(s: NodeDeathSpec): Promise<{ sessions: number; lost: number | null; checkpointMs: number | null }> {
  void (undefined as unknown as JsonChild);
  return { sessions: s.sessions, lost: null, checkpointMs: null };
}
