// [issue 15.6-7, D86, D89] A version switch whose head-end code is the old version's is only a
// re-pin on the head-end (D57): the box keeps its session at once, so its new version's first
// requests go without waiting for the open, which still names the version (the head-end re-pins
// against its own catalog). Modules the session placed here wait for their start. The head-end's
// rule (headend/node/version-upgrade.ts `sameCode`) compares the SHA-256 of the modules its
// instance runs; the box cannot see that placement, so it compares every non-client module of the
// two signed manifests it verified by name, SHA-256 and scope (app-wide code is routed by version),
// in order: never less than the head-end, and nothing else of an entry (needs, tier, size, ...).
// A session with no module on the head-end is not kept (another node may open it afresh).

import type { OpenReply } from '../runtime/index.ts';
import type { Manifest } from '../runtime/app/index.ts';
import type { BoxSwitch } from './switch.ts';

/** The head-end code of a version as the box compares it. */
export const headendCode = (m?: Manifest): string | undefined => m && JSON.stringify(m.modules.filter((e) => e.kind !== 'client'), ['name', 'sha256', 'scope']);

/** Keep `old`'s session on `sw` when the head-end re-pins it from `from` to `to`; returns it when kept. */
export function keepSession(sw: BoxSwitch, from: Manifest | undefined, to: Manifest, old: OpenReply | undefined): OpenReply | undefined {
  if (!old?.modules.some((m) => m.side === 'headend') || headendCode(from) !== headendCode(to)) return;
  for (const m of old.modules) if (m.side === 'box') sw.hold(m.module);
  sw.setSession(old.session);
  return old;
}
