// Node death for bench/faults: two `weft headend node` processes on mosquitto (MQTT 5 shared box
// ingress) and Redis, --sessions legacy-sd boxes whose guide/search portion runs on the head-end
// and counts the searches it answered. Each box sends searches (each answer an acknowledged
// update); the node holding most of them is killed -9; once the survivor has re-placed them (or
// the boxes re-opened), each box reads its count. Updates lost = acknowledged - read, summed over
// the sessions that were on the dead node. checkpoint_ms: the checkpoint interval in force (the
// head-end's default, headend/portions/checkpoint-options.ts): the goal is lost <= the updates
// acknowledged in that window before the kill.

import { resolveCheckpointOptions } from '../headend/portions/checkpoint-options.ts';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freeTcpPort, freeUdpPort } from '../test/_helpers/ports.ts';
import { startRedis } from '../test/_helpers/redis.ts';
import { type JsonChild, MosquittoProcess, startFleetProcess, startHeadendProcess } from './_faults-procs.ts';

export interface NodeDeathSpec {
  work: string;
  master: string;
  nodePassword: string;
  clusterKeyFile: string;
  sessions: number;
  children: { stop: () => Promise<void> }[];
  log: (msg: string) => void;
}

export interface NodeDeathResult {
  /** Sessions that were on the dead node. */
  sessions: number;
  acked: number;
  lost: number | null;
  /** Sessions whose count could not be read again within 60 s. */
  unread: number;
  checkpointMs: number | null;
}

interface Row {
  i: number;
  node?: string;
  session?: string;
  acked?: number;
  queries?: number | null;
}

const UPDATES = 5;

export async function nodeDeath(s: NodeDeathSpec): Promise<NodeDeathResult | undefined> {
  const redisProgram = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p));
  const mosq = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].some((p) => existsSync(p));
  if (redisProgram === undefined || !mosq) {
    s.log('node death: needs mosquitto and redis-server; skipped');
    return undefined;
  }
  const redis = await startRedis(redisProgram);
  s.children.push(redis);
  const dir = join(s.work, 'mosquitto-nd');
  mkdirSync(dir, { recursive: true });
  const nodes = [{ id: 'node-1', password: s.nodePassword }, { id: 'node-2', password: s.nodePassword }];
  const m = await MosquittoProcess.start(dir, await freeTcpPort(), nodes, [{ prefix: 'nd', count: s.sessions }], s.master);
  s.children.push(m);
  const carousel = `127.0.0.1:${await freeUdpPort()}`;
  const common = { work: s.work, registry: redis.url, broker: { url: m.url, password: s.nodePassword }, clusterKeyFile: s.clusterKeyFile, shareGroup: 'weft' };
  const he: Record<string, JsonChild> = {};
  he['node-1'] = await startHeadendProcess({ ...common, node: 'node-1', carousel });
  s.children.push(he['node-1']);
  he['node-2'] = await startHeadendProcess({ ...common, node: 'node-2', carousel: 'off' });
  s.children.push(he['node-2']);
  const fleet = await startFleetProcess({ work: s.work, url: m.url, count: s.sessions, prefix: 'nd', carousel: `udp://${carousel}`, mix: 'legacy-sd:1', askEveryMs: 0 });
  s.children.push(fleet);
  const until = performance.now() + 180_000;
  while (performance.now() < until) {
    fleet.send('summary');
    const sum = await fleet.next((j) => j.event === 'summary', 30_000, 'summary');
    if (((sum.states as Record<string, number>).up ?? 0) === s.sessions) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  fleet.send(`updates ${UPDATES}`);
  const before = (await fleet.next((j) => j.event === 'updates', 120_000, 'updates')).boxes as Row[];
  const byNode = new Map<string, number>();
  for (const r of before) if (r.node !== undefined) byNode.set(r.node, (byNode.get(r.node) ?? 0) + 1);
  const victim = [...byNode.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  s.log(`node death: sessions by node ${JSON.stringify(Object.fromEntries(byNode))}; kill -9 ${victim ?? 'none'}`);
  if (victim === undefined || he[victim] === undefined) return undefined;
  he[victim].kill9();
  fleet.send('read');
  const after = (await fleet.next((j) => j.event === 'read', 180_000, 'read')).boxes as Row[];
  const onDead = before.filter((r) => r.node === victim);
  let acked = 0;
  let lost = 0;
  let unread = 0;
  for (const r of onDead) {
    const a = after.find((x) => x.i === r.i);
    acked += r.acked ?? 0;
    if (typeof a?.queries !== 'number') unread++;
    else lost += Math.max(0, (r.acked ?? 0) - a.queries);
  }
  s.log(`node death: ${onDead.length} sessions on ${victim}, ${acked} acknowledged updates, ${lost} lost, ${unread} not readable again`);
  fleet.send('stop');
  await fleet.next((j) => j.event === 'final', 60_000, 'final').catch(() => undefined);
  await fleet.stop();
  for (const c of Object.values(he)) await c.stop();
  await m.stop();
  await redis.stop();
  return { sessions: onDead.length, acked, lost, unread, checkpointMs: resolveCheckpointOptions(undefined).checkpointMs };
}
