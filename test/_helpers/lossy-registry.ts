// A registry that loses acknowledged writes, as Redis Cluster does when a master dies before its
// replica has a claim (docs/REGISTRY.md "What a failover can undo"), for the deterministic tier:
// `lose(vaddr)` and `loseSession(id)` remove a record without a word on the change feed; `feedDown()` holds back what
// the feed would tell watchers (a subscriber moving to another node) until `failover()`, which
// sends the `reset` the Redis Cluster adapter sends when a node leaves the topology. Everything
// else is the wrapped registry's.

import type { ChangeListener, Registry, RegistryChange } from '../../headend/registry/registry.ts';

export interface LossyRegistry extends Registry {
  /** The record of `vaddr` vanishes (its write was acknowledged, then lost); watchers hear nothing. */
  lose(vaddr: string): Promise<void>;
  /** The session record `id` vanishes (its write was acknowledged, then lost); watchers hear nothing. */
  loseSession(id: string): Promise<void>;
  /** From now on changes are not told to watchers (they are dropped, as a subscriber away misses them). */
  feedDown(): void;
  /** The feed is back and says changes may have been missed: every watcher gets `reset`. */
  failover(): void;
}

export function lossyRegistry(inner: Registry): LossyRegistry {
  const listeners = new Set<ChangeListener>();
  let down = false;
  let muted = 0;
  const tell = (c: RegistryChange): void => {
    if (down || muted > 0) return;
    for (const l of listeners) l(c);
  };
  const unwatch = inner.watch(tell);
  const extra: Partial<LossyRegistry> = {
    watch(listener: ChangeListener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    async lose(vaddr: string) {
      muted++;
      try {
        const rec = await inner.lookup(vaddr);
        if (rec !== undefined) await inner.unbind(vaddr, rec.epoch);
      } finally {
        muted--;
      }
    },
    async loseSession(id: string) {
      muted++;
      try {
        await inner.deleteSession(id);
      } finally {
        muted--;
      }
    },
    feedDown() {
      down = true;
    },
    failover() {
      down = false;
      tell({ kind: 'reset' });
    },
    async close() {
      unwatch();
      await inner.close();
    },
  };
  return new Proxy(inner, {
    get(target, key) {
      if (Object.hasOwn(extra, key)) return extra[key as keyof LossyRegistry];
      const v: unknown = Reflect.get(target, key);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as LossyRegistry;
}
