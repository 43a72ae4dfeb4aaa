// The reply to a session.open [c41]: where each module of the app runs for the session, its
// virtual address, the server portion's entry (dasp) and what the box downloads. One builder for
// a fresh open (session-manager.ts) and a version switch (session-switch.ts). Pure.

import { formatVaddr, type OpenReply, type PlacedModule } from '../runtime/index.ts';
import type { Manifest, ModulePlacement } from '../runtime/app/index.ts';

const REPORT_EVERY_MS = 5000;

/** Every module of the app but the app-wide ones, with its side for this session and its vaddr. */
export function placedModules(manifest: Manifest, session: string, placements: readonly ModulePlacement[], wide: readonly string[]): PlacedModule[] {
  return manifest.modules
    .filter((m) => !wide.includes(m.name))
    .map((m) => {
      const p = placements.find((x) => x.module === m.name) as ModulePlacement;
      return { module: m.name, side: p.side, vaddr: formatVaddr({ app: manifest.app, session, module: m.name }) };
    });
}

export function openReply(manifest: Manifest, session: string, node: string, modules: PlacedModule[], onHeadend: readonly string[], wide: readonly string[]): OpenReply {
  const entry = manifest.modules.find((m) => onHeadend.includes(m.name) && m.kind !== 'mutable') ?? manifest.modules.find((m) => onHeadend.includes(m.name));
  const boot = new Set(manifest.modules.filter((m) => m.tier === 'boot').map((m) => m.name));
  return {
    session,
    node,
    dasp: formatVaddr({ app: manifest.app, session, module: entry?.name ?? wide[0] ?? (modules[0]?.module as string) }),
    modules,
    // [c41] what the box does not have from the carousel's boot tier it downloads from the chosen node.
    download: modules.filter((m) => m.side === 'box' && !boot.has(m.module)).map((m) => m.module),
    reportEveryMs: REPORT_EVERY_MS,
  };
}
