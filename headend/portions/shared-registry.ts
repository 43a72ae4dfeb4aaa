// App-wide checkpoints in the registry (issue 16 x issue 13.2): the port AppWide saves to,
// kept in the registry's checkpoint records beside the per-module ones, so `headend up` and
// `headend node` keep an app-wide instance's state, storage and duplicate window across the
// death of its node. The record's key is `weft://<app>/*/_appwide`: `_` cannot start a manifest
// module name, so it never meets a module's own checkpoint. Each app-wide code has its own record
// (issue 15.6): `weft://<app>/*/_appwide/<tag>` for the instance id `<app>/*/<tag>`; the untagged
// record (from before versions) is only read. Fenced like the others: written at the epoch of
// this node's claim of that code, so a writer the registry moved past is refused as stale.

import { formatVaddr, parseVaddr } from '../../runtime/index.ts';
import type { Registry } from '../registry/registry.ts';
import type { SharedCheckpoints } from './shared-checkpoint.ts';

const KEY_MODULE = '_appwide';

export class RegistryAppCheckpoints implements SharedCheckpoints {
  readonly #registry: Registry;
  readonly #node: string;
  /** Writes made per instance id: the next seq is one more than the larger of this and the stored. */
  readonly #seq = new Map<string, number>();

  constructor(registry: Registry, node: string) {
    this.#registry = registry;
    this.#node = node;
  }

  async save(instanceId: string, bytes: Uint8Array): Promise<void> {
    const { app, tag } = partsOf(instanceId);
    const epoch = await this.#claimEpoch(app, tag);
    if (epoch === undefined) throw new Error(`app-wide checkpoint of ${app}: this node (${this.#node}) holds no claim`);
    const vaddr = keyOf(instanceId);
    let seq = this.#seq.get(instanceId);
    if (seq === undefined) seq = (await this.#registry.getCheckpoint(vaddr))?.seq ?? 0;
    seq++;
    this.#seq.set(instanceId, seq);
    const r = await this.#registry.putCheckpoint({ vaddr, node: this.#node, epoch, seq, state: bytes });
    if (!r.ok) {
      this.#seq.delete(instanceId); // re-read the stored seq next time
      throw new Error(`app-wide checkpoint of ${app} refused (${r.error.reason}): a newer writer holds it`);
    }
  }

  async load(instanceId: string): Promise<Uint8Array | undefined> {
    const rec = await this.#registry.getCheckpoint(keyOf(instanceId));
    this.#seq.delete(instanceId);
    return rec?.state;
  }

  /** The epoch of this node's claim of the code: its first (by vaddr) binding of the app's `*` session with that tag. */
  async #claimEpoch(app: string, tag: string | undefined): Promise<number | undefined> {
    const mine = (await this.#registry.listBySession(app, '*')).filter((r) => r.node === this.#node && parseVaddr(r.vaddr).instance === tag);
    return mine[0]?.epoch;
  }
}

/** `<app>/*` or `<app>/*\/<tag>`. */
function partsOf(instanceId: string): { app: string; tag: string | undefined } {
  const [app = instanceId, , tag] = instanceId.split('/');
  return { app, tag };
}

function keyOf(instanceId: string): string {
  const { app, tag } = partsOf(instanceId);
  return formatVaddr({ app, session: '*', module: KEY_MODULE, ...(tag === undefined ? {} : { instance: tag }) });
}
