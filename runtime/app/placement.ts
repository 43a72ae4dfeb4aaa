// The placement rule [c4-c7, c18] as a pure function: manifest + the box's resource report in,
// one decision per module out. No I/O, no clock; the balancer and the tests call it alike.

import { ArgumentError } from '../errors.ts';
import { rejectUnknown } from '../options.ts';
import { CPU_CLASSES, type CpuClass, type Manifest, type ModuleEntry, servicesUsed } from './manifest.ts';

/** What a box reports about itself (free resources for apps) [c5, c41]. */
export interface BoxResources {
  /** Bytes of sandbox heap the box can still give to app modules. */
  memory: number;
  /** Bytes of app storage free. */
  storage: number;
  cpu: CpuClass;
}

export type Side = 'box' | 'headend';

export type PlacementReason =
  | 'client-module' // kind client: always the box [c3]
  | 'server-module' // kind server: always the head-end
  | 'pinned-by-service' // uses a head-end service API: never the box [c6, c7]
  | 'box-has-resources' // mutable, and the box's report covers its needs [c5]
  | 'no-resource-report' // mutable, but the box has not reported (no two-way channel yet)
  | 'box-lacks-memory'
  | 'box-lacks-storage'
  | 'box-lacks-cpu';

export interface ModulePlacement {
  module: string;
  side: Side;
  reason: PlacementReason;
  /** True when the module runs on the head-end but the box side talks to it through a proxy
   *  that forwards its messages, keeping the client/server message boundary [c18]. */
  proxy: boolean;
}

/**
 * Decide where each module of an app runs for one session. Mutable modules are considered in
 * manifest order and consume the box's reported resources as they are placed there, so two
 * mutable modules never both count on the same free memory.
 */
export function placeModules(manifest: Manifest, box: BoxResources | undefined): ModulePlacement[] {
  const left = box === undefined ? undefined : checkBox(box);
  return manifest.modules.map((m) => place(m, left));
}

function place(m: ModuleEntry, left: BoxResources | undefined): ModulePlacement {
  // [c7] the service binding is checked first: whatever the kind says, a module bound to a
  // head-end service cannot be sent to a box.
  if (servicesUsed(m).length > 0) return decide(m, 'headend', 'pinned-by-service');
  switch (m.kind) {
    case 'client':
      return decide(m, 'box', 'client-module');
    case 'server':
      return decide(m, 'headend', 'server-module');
    case 'peer':
      return decide(m, 'headend', 'pinned-by-service');
    case 'mutable': {
      if (left === undefined) return decide(m, 'headend', 'no-resource-report');
      const short = shortfall(m, left);
      if (short !== undefined) return decide(m, 'headend', short);
      left.memory -= m.needs.memory ?? 0;
      left.storage -= m.needs.storage ?? 0;
      return decide(m, 'box', 'box-has-resources');
    }
  }
}

function shortfall(m: ModuleEntry, left: BoxResources): PlacementReason | undefined {
  if ((m.needs.memory ?? 0) > left.memory) return 'box-lacks-memory';
  if ((m.needs.storage ?? 0) > left.storage) return 'box-lacks-storage';
  if (m.needs.cpu !== undefined && CPU_CLASSES.indexOf(m.needs.cpu) > CPU_CLASSES.indexOf(left.cpu)) return 'box-lacks-cpu';
  return undefined;
}

function decide(m: ModuleEntry, side: Side, reason: PlacementReason): ModulePlacement {
  return { module: m.name, side, reason, proxy: side === 'headend' && m.kind === 'mutable' };
}

function checkBox(box: BoxResources): BoxResources {
  rejectUnknown('placeModules: box', box, ['memory', 'storage', 'cpu']);
  for (const k of ['memory', 'storage'] as const) {
    const v = box[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ArgumentError(`placeModules: box.${k} must be a number >= 0`, k);
  }
  if (!CPU_CLASSES.includes(box.cpu)) throw new ArgumentError(`placeModules: box.cpu must be one of ${CPU_CLASSES.join(', ')}`, 'cpu');
  return { memory: box.memory, storage: box.storage, cpu: box.cpu };
}
