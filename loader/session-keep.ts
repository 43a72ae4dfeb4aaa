// [issue 15.6-7, D86] A version switch whose head-end code is the old version's byte for byte
// (the same non-client module entries, hashes included, in the two signed manifests this box
// verified) is only a re-pin on the head-end (D57): the box keeps its session at once, so its new
// version's first requests go without waiting for the open, which still names the version (the
// head-end re-pins against its own catalog). Modules the session placed here wait for their start.

import type { OpenReply } from '../runtime/index.ts';
import type { Manifest } from '../runtime/app/index.ts';
import type { BoxSwitch } from './switch.ts';

const headendCode = (m?: Manifest): string | undefined => m && JSON.stringify(m.modules.filter((e) => e.kind !== 'client'));

/** Keep `old`'s session on `sw` when `from` and `to` run the same head-end code. */
export function keepSession(sw: BoxSwitch, from: Manifest | undefined, to: Manifest, old: OpenReply | undefined): void {
  if (!old || headendCode(from) !== headendCode(to)) return;
  for (const m of old.modules) if (m.side === 'box') sw.hold(m.module);
  sw.setSession(old.session);
}
