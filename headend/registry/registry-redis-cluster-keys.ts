// Key layout and URL of the Redis Cluster registry adapter: which hash tag each key carries (so
// a compare-and-set script stays on one shard) and the `redis-cluster://` seed list. Pure; no
// ioredis import.

import { ArgumentError } from '../../runtime/index.ts';
import { vaddrKey } from './registry.ts';

/** The most seed nodes a URL may list. */
export const MAX_SEEDS = 32;

export interface Seed {
  host: string;
  port: number;
}

const SEED = /^(?:([A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}))|\[([0-9A-Fa-f:.]{2,45})\]):(\d{1,5})$/;
const USAGE = 'registry must be redis-cluster://host:port[,host:port...]';

/** The seed nodes of `redis-cluster://host:port,host:port`; ArgumentError (one line) otherwise. */
export function parseClusterUrl(url: unknown): Seed[] {
  if (typeof url !== 'string' || !url.startsWith('redis-cluster://')) throw new ArgumentError(`${USAGE}, got ${JSON.stringify(url)}`, 'registry');
  const list = url.slice('redis-cluster://'.length).replace(/\/$/, '');
  const parts = list.split(',');
  if (list === '' || parts.length > MAX_SEEDS) throw new ArgumentError(`${USAGE} with 1 to ${MAX_SEEDS} seed nodes, got "${url.slice(0, 200)}"`, 'registry');
  return parts.map((p) => {
    const m = SEED.exec(p);
    const port = Number(m?.[3]);
    if (m === null || port < 1 || port > 65535) throw new ArgumentError(`${USAGE}: "${p.slice(0, 80)}" is not host:port (port 1-65535)`, 'registry');
    return { host: m[1] ?? m[2] ?? '', port };
  });
}

/**
 * The keys of one prefix. A location, its session's location index and its checkpoint share the
 * tag of the session (`{s-8f2c}`), and so does that session's record; app-wide portions (`*`)
 * are tagged `{app/*}`. The cross-shard indexes are tagged by what they index.
 */
export class ClusterKeys {
  readonly prefix: string;
  readonly channel: string;

  constructor(prefix: string) {
    this.prefix = prefix;
    this.channel = `${prefix}changes`;
  }

  /** The hash tag of a vaddr (validating it). */
  tagOf(vaddr: string): { tag: string; app: string; session: string } {
    const { app, session } = vaddrKey(vaddr);
    return { tag: session === '*' ? `${app}/*` : session, app, session };
  }

  loc(vaddr: string): string {
    return `${this.prefix}{${this.tagOf(vaddr).tag}}loc:${vaddr}`;
  }

  ckpt(vaddr: string): string {
    return `${this.prefix}{${this.tagOf(vaddr).tag}}ckpt:${vaddr}`;
  }

  sessionLocs(app: string, session: string): string {
    return `${this.prefix}{${session === '*' ? `${app}/*` : session}}session-locs:${app}/${session}`;
  }

  session(id: string): string {
    return `${this.prefix}{${id}}session:${id}`;
  }

  nodeLocs(node: string): string {
    return `${this.prefix}{n:${node}}node-locs`;
  }

  nodeSessions(node: string): string {
    return `${this.prefix}{n:${node}}node-sessions`;
  }

  appSessions(app: string): string {
    return `${this.prefix}{a:${app}}app-sessions`;
  }

  sessions(): string {
    return `${this.prefix}{sessions}`;
  }
}
