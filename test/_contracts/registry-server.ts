// Both registry contracts (records and checkpoints) for an adapter on a shared server (Redis, Redis
// Cluster): every test gets its own key prefix on the one server, so tests run concurrently.
import type { ManualClock } from '../../runtime/index.ts';
import type { Registry } from '../../headend/registry/registry.ts';
import { registryContract } from './registry.ts';
import { checkpointContract } from './registry-checkpoints.ts';

/**
 * `open(prefix, clock)`: a registry of the adapter on the server, its keys under `prefix`;
 * `storeSwitchId(prefix, session, raw)`: write a session's stored switch id behind the adapter.
 */
export function serverRegistryContracts(
  name: string,
  open: (prefix: string, clock: ManualClock) => Promise<Registry & { close(): Promise<void> }>,
  storeSwitchId?: (prefix: string, session: string, raw: string | number) => Promise<void>,
): void {
  let n = 0;
  registryContract(name, async (clock) => {
    const prefix = `t${++n}:`;
    const opened: { close(): Promise<void> }[] = [];
    const second = async () => {
      const r = await open(prefix, clock);
      opened.push(r);
      return r;
    };
    return {
      registry: await second(),
      second,
      propagate: () => {},
      ...(storeSwitchId === undefined ? {} : { storeSwitchId: (session: string, raw: string | number) => storeSwitchId(prefix, session, raw) }),
      close: async () => {
        for (const r of opened) await r.close();
      },
    };
  });
  checkpointContract(name, async (clock) => {
    const registry = await open(`c${++n}:`, clock);
    return { registry, close: () => registry.close() };
  });
}
