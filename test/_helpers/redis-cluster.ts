// Starts a throwaway Redis Cluster from Debian's redis-server: three masters with one replica
// each (six processes on free loopback ports, no persistence), joined by `redis-cli --cluster
// create`, and waits until every node reports cluster_state:ok and every master has its replica.
// Can SIGKILL a master and wait for its replica to take over. Callers of startRedisCluster check
// the programs first; failoverCluster checks them in a test (env.ts).

import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { needProgram } from './env.ts';
import { freeTcpPort } from './ports.ts';
import { launchRedis } from './redis.ts';

export interface ClusterNode {
  port: number;
  child: ChildProcess;
  /** The cluster's id of this node (CLUSTER MYID). */
  id: string;
}

export interface RedisCluster {
  nodes: ClusterNode[];
  /** `redis-cluster://127.0.0.1:p1,127.0.0.1:p2,...` (every node as a seed). */
  url: string;
  /**
   * SIGKILL the master serving `slot` and wait until its replica serves it and the cluster is ok.
   * `afterKill` runs once the master is dead, before the wait (to resume a detached replica).
   */
  killMasterOf(slot: number, afterKill?: () => void): Promise<{ killed: ClusterNode; promoted: ClusterNode }>;
  /**
   * Cut the replica of the master serving `slot` off its master so that writes acknowledged from
   * now on exist only on the master: SIGSTOP the replica, then close its replication link on the
   * master. Gives the function that resumes it (SIGCONT).
   */
  detachReplicaOf(slot: number): Promise<() => void>;
  /** The node serving `slot` as master now. */
  masterOf(slot: number): Promise<ClusterNode>;
  /** Kill every server and remove the data directory. Idempotent. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** cluster-node-timeout in ms: how long a silent master is tolerated before failover. Default 1000. */
  nodeTimeoutMs?: number;
  /** How long to wait for each state (formed, failed over), ms. Default 30000. */
  readyMs?: number;
}

const exec = (file: string, args: string[]): Promise<string> =>
  new Promise((resolve, reject) => execFile(file, args, { timeout: 60_000 }, (err, out, errOut) => (err === null ? resolve(out) : reject(new Error(`${file} ${args.join(' ')}: ${err.message}\n${out}\n${errOut}`)))));

/** Poll `probe` (one round of commands per turn) until it gives true; reject after `ms`. */
async function waitFor(what: string, ms: number, probe: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    let last: unknown;
    try {
      if (await probe()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`redis cluster: timed out waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function ask<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  r.on('error', () => {});
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** Parse CLUSTER NODES: id, port, flags, master id, slot ranges. */
function parseNodes(text: string): { id: string; port: number; flags: string[]; master: string; slots: [number, number][] }[] {
  return text.trim().split('\n').map((line) => {
    const f = line.split(' ');
    const port = Number(/:(\d+)@/.exec(f[1] ?? '')?.[1]);
    const slots = f.slice(8).filter((s) => /^\d/.test(s)).map((s) => {
      const [a, b] = s.split('-').map(Number);
      return [a ?? 0, b ?? a ?? 0] as [number, number];
    });
    return { id: f[0] ?? '', port, flags: (f[2] ?? '').split(','), master: f[3] ?? '-', slots };
  });
}

async function launchNode(program: string, dir: string, nodeTimeoutMs: number): Promise<ClusterNode> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeTcpPort();
    const bus = await freeTcpPort();
    try {
      const child = await launchRedis(program, port, ['--cluster-enabled', 'yes', '--cluster-port', String(bus), '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', String(nodeTimeoutMs), '--cluster-replica-validity-factor', '0', '--dir', dir]);
      child.removeAllListeners('exit');
      const id = await ask(port, (r) => r.call('CLUSTER', 'MYID') as Promise<string>);
      return { port, child, id };
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

/** Every node agrees: state ok, all 16384 slots served, each master has an online replica. */
async function healthy(alive: ClusterNode[]): Promise<boolean> {
  for (const n of alive) {
    const info = await ask(n.port, (r) => r.call('CLUSTER', 'INFO') as Promise<string>);
    if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_ok:16384')) return false;
  }
  return true;
}

export async function startRedisCluster(program: string, cli: string, options: ClusterOptions = {}): Promise<RedisCluster> {
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 1000;
  const readyMs = options.readyMs ?? 30_000;
  const dir = mkdtempSync(join(tmpdir(), 'weft-redis-cluster-'));
  const nodes: ClusterNode[] = [];
  const dead = new Set<ClusterNode>();
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await Promise.all(nodes.map((n) => (n.child.exitCode === null && n.child.signalCode === null ? new Promise<void>((resolve) => (n.child.once('exit', () => resolve()), n.child.kill('SIGKILL'))) : undefined)));
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };
  try {
    for (let i = 0; i < 6; i++) nodes.push(await launchNode(program, dir, nodeTimeoutMs));
    await exec(cli, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes']);
    await waitFor('cluster_state:ok on every node', readyMs, () => healthy(nodes));
    // Each master has an online replica, so WAIT 1 can be answered.
    await waitFor('a connected replica on each master', readyMs, async () => {
      const roles = await Promise.all(nodes.map((n) => ask(n.port, (r) => r.call('ROLE') as Promise<unknown[]>)));
      return roles.filter((x) => x[0] === 'master' && Array.isArray(x[2]) && x[2].length >= 1).length === 3;
    });
  } catch (e) {
    await stop();
    throw e;
  }
  const byPort = (port: number): ClusterNode | undefined => nodes.find((n) => n.port === port);
  const view = async (): Promise<ReturnType<typeof parseNodes>> => {
    const alive = nodes.find((n) => !dead.has(n));
    if (alive === undefined) throw new Error('redis cluster: no node alive');
    return parseNodes(await ask(alive.port, (r) => r.call('CLUSTER', 'NODES') as Promise<string>));
  };
  const masterOf = async (slot: number): Promise<ClusterNode> => {
    const m = (await view()).find((n) => n.flags.includes('master') && !n.flags.includes('fail') && n.slots.some(([a, b]) => slot >= a && slot <= b));
    const node = m === undefined ? undefined : byPort(m.port);
    if (node === undefined) throw new Error(`redis cluster: no master serves slot ${slot}`);
    return node;
  };
  return {
    nodes,
    url: `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    masterOf,
    stop,
    async detachReplicaOf(slot) {
      const master = await masterOf(slot);
      const replica = (await view()).find((n) => n.master === master.id);
      const node = replica === undefined ? undefined : byPort(replica.port);
      if (node === undefined) throw new Error(`redis cluster: the master of slot ${slot} has no replica`);
      node.child.kill('SIGSTOP');
      await ask(master.port, (r) => r.call('CLIENT', 'KILL', 'TYPE', 'replica'));
      return () => void node.child.kill('SIGCONT');
    },
    async killMasterOf(slot, afterKill) {
      const killed = await masterOf(slot);
      const exited = new Promise<void>((resolve) => killed.child.once('exit', () => resolve()));
      killed.child.kill('SIGKILL');
      await exited;
      dead.add(killed);
      afterKill?.();
      let promoted: ClusterNode | undefined;
      await waitFor(`a replica taking over slot ${slot}`, readyMs, async () => {
        const m = await masterOf(slot).catch(() => undefined);
        if (m === undefined || m === killed) return false;
        promoted = m;
        return healthy(nodes.filter((n) => !dead.has(n)));
      });
      if (promoted === undefined) throw new Error('unreachable');
      return { killed, promoted };
    },
  };
}

/**
 * For a failover test: a cluster whose masters fail over fast (1 s node timeout), or undefined when
 * redis-server or redis-cli is missing, the test then marked skipped (failed under WEFT_REQUIRE_ALL=1).
 */
export async function failoverCluster(t: ExecutionContext, why: string): Promise<RedisCluster | undefined> {
  const program = needProgram(t, 'redis-server', why);
  if (program === undefined) return undefined;
  const cli = needProgram(t, 'redis-cli', 'creating the Redis Cluster');
  if (cli === undefined) return undefined;
  return startRedisCluster(program, cli, { nodeTimeoutMs: 1000 });
}
