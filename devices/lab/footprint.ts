// The firmware's memory floor: the smallest memory cgroup (MiB, in steps) in which a native boot
// of a profile still gets to `up`, found by bisection between a floor that fails and a ceiling
// that works. Root and a memory cgroup controller (cgroup.ts).

import { bootOnce, type BootResult } from './boot.ts';
import { LabError } from './exec.ts';
import type { Stage } from './stage.ts';

export interface CgroupProbe {
  mb: number;
  ok: boolean;
  /** The boot's end state, or why it failed (OOM-killed ...). */
  detail: string;
}

export interface CgroupMinimum {
  /** The smallest limit that booted, MiB; undefined when even the ceiling did not. */
  minMb: number | undefined;
  probes: CgroupProbe[];
}

export async function probeCgroup(stage: Stage, profile: string, mb: number, timeoutMs: number): Promise<CgroupProbe> {
  let r: BootResult;
  try {
    r = await bootOnce({ ...stage.spec(profile, `lab-cg-${mb}`, { timeoutMs }), cgroupBytes: mb * 1024 * 1024 });
  } catch (e) {
    return { mb, ok: false, detail: (e as Error).message.slice(0, 200) };
  }
  return { mb, ok: r.reached, detail: r.reached ? `up in ${r.upMs} ms, RSS ${r.rssMb} MB` : `ended in ${r.state}` };
}

/** Bisect [floorMb, ceilMb] in `stepMb` steps; `floorMb` is assumed to fail, `ceilMb` is tried first. */
export async function cgroupMinimum(stage: Stage, profile: string, o: { floorMb: number; ceilMb: number; stepMb: number; timeoutMs: number; log: (s: string) => void }): Promise<CgroupMinimum> {
  if (!(o.floorMb > 0 && o.ceilMb > o.floorMb && o.stepMb > 0)) throw new LabError('cgroup minimum', 'needs 0 < floor < ceiling and a positive step');
  const probes: CgroupProbe[] = [];
  const probe = async (mb: number): Promise<boolean> => {
    const p = await probeCgroup(stage, profile, mb, o.timeoutMs);
    probes.push(p);
    o.log(`lab: ${profile} in a ${mb} MiB cgroup: ${p.ok ? 'boots' : 'fails'} (${p.detail})`);
    return p.ok;
  };
  if (!(await probe(o.ceilMb))) return { minMb: undefined, probes };
  let lo = o.floorMb; // fails (assumed)
  let hi = o.ceilMb; // boots
  while (hi - lo > o.stepMb) {
    const mid = lo + Math.round((hi - lo) / 2 / o.stepMb) * o.stepMb;
    if (mid <= lo || mid >= hi) break;
    if (await probe(mid)) hi = mid;
    else lo = mid;
  }
  return { minMb: hi, probes };
}
