// bench/scale's reconnect storm [issue 19.6]: restart the broker under a held light fleet, wait for
// every box to be up again, and show where the time went: each fleet summary line (1 s) gives the
// boxes up, the broker's connected clients and its connect gate's answers so far, so the timeline
// shows whether the broker's accept rate or the boxes' waits bound the settle time, with the
// kernel's listen-queue overflows and SYN retransmits (machine-wide counters) since the restart. With
// `profDir` the bench process (the node and embedded aedes) is CPU-profiled for the storm alone.

import { Session } from 'node:inspector/promises';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunningFleet } from './_scale-fleet.ts';
import type { FleetLine } from '../cli/fleet-procs.ts';

export interface StormBroker {
  busy?: () => number;
  restart?: () => Promise<void>;
  /** The broker's counters now: connected clients, CONNECTs admitted and refused by the gate. */
  sample?: () => Record<string, number>;
  /** [wave 14] The node's own link is up (a shared broker drops the node too: the storm settles only when it is back). */
  nodeUp?: () => boolean;
  /** [wave 14] When the node's link last came up (performance.now()). */
  nodeUpAt?: () => number;
}

export interface StormResult {
  settleS: number;
  deadVerdicts: number;
  falseDeadPaths: number;
  undone: number;
  busy: number;
  /** [wave 14] Seconds from the restart until the node's own link was up again (NaN: the node was never dropped, as on embedded aedes). */
  nodeBackS: number;
}

/** The kernel's TCP counters that show a full accept queue (this machine's, every process's: /proc/net/netstat). */
function kernelTcp(): Record<string, number> {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const keys = (lines[0] ?? '').split(/\s+/);
    const vals = (lines[1] ?? '').split(/\s+/);
    const pick = (k: string): number => Number(vals[keys.indexOf(k)] ?? NaN);
    return { 'listen overflows': pick('ListenOverflows'), 'SYN retransmits': pick('TCPSynRetrans') };
  } catch {
    return {}; // not Linux: the timeline goes without them
  }
}

const verdicts = (l: FleetLine | undefined): number => (l === undefined ? 0 : l.channel.deadPaths + l.channel.deadLinks);
const undoneOf = (l: FleetLine | undefined): number => (l === undefined ? 0 : l.channel.deadPathsUndone);

/** A CPU profile of this process from now until `stop()`, written to `dir` as `<name>-<ms>.cpuprofile` (nothing without a dir). */
export async function profile(dir: string, name = 'storm'): Promise<() => Promise<void>> {
  if (dir === '') return async () => {};
  await mkdir(dir, { recursive: true }); // a missing dir lost the profile and the storm's result after a whole run
  const s = new Session();
  s.connect();
  await s.post('Profiler.enable');
  await s.post('Profiler.start');
  return async () => {
    const { profile: p } = await s.post('Profiler.stop');
    await writeFile(join(dir, `${name}-${Date.now()}.cpuprofile`), JSON.stringify(p));
    s.disconnect();
  };
}

/**
 * Restart `broker` under `count` held boxes and wait (at most `maxS`) until all are up again;
 * `log` gets one line per fleet summary as it comes (seconds since the restart, boxes up, the
 * broker's counters), so a storm that does not settle still shows where it stood.
 */
export async function runStorm(count: number, broker: StormBroker, fleet: RunningFleet, maxS: number, log: (line: string) => void, profDir = ''): Promise<StormResult> {
  const before = fleet.last();
  const busy0 = broker.busy?.() ?? 0;
  const stopProfile = await profile(profDir);
  const tcp0 = kernelTcp();
  const t0 = performance.now();
  const off = fleet.onLine((l) => {
    const tcp = Object.entries(kernelTcp()).map(([k, v]) => [k, v - (tcp0[k] ?? 0)]);
    const b = { ...(broker.sample?.() ?? {}), ...Object.fromEntries(tcp) };
    const fields = Object.entries(b).map(([k, v]) => `${k} ${v}`).join(', ');
    log(`+${((performance.now() - t0) / 1000).toFixed(1)} s: up ${l.states.up ?? 0}, interrupted ${l.states.interrupted ?? 0}, session-setup ${l.states['session-setup'] ?? 0}, connecting ${l.states.connecting ?? 0}; ${fields}`);
  });
  try {
    await broker.restart?.();
    log(`+${((performance.now() - t0) / 1000).toFixed(1)} s: the broker listens again (its close and start held this loop until now)`);
    await fleet.until((l) => (l.states.up ?? 0) < count, 30_000, 'the boxes to see the broker go');
    // Every box up and, on a shared broker, the node's own link too: a box is served only through it.
    const settled = await fleet.until((l) => (l.states.up ?? 0) === count && (broker.nodeUp?.() ?? true), maxS * 1000, 'the storm to settle');
    const settleS = (performance.now() - t0) / 1000;
    const upAt = broker.nodeUpAt?.() ?? NaN;
    const nodeBackS = upAt > t0 ? (upAt - t0) / 1000 : NaN;
    const dead = verdicts(settled) - verdicts(before);
    const undone = undoneOf(settled) - undoneOf(before);
    return { settleS, deadVerdicts: dead, falseDeadPaths: dead - undone, undone, busy: (broker.busy?.() ?? 0) - busy0, nodeBackS };
  } finally {
    off();
    await stopProfile();
  }
}
