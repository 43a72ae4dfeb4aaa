// `weft headend up` (the embedded default: aedes, SQLite, one node, carousel, services) and
// `weft headend node` (join a node to a shared broker and registry on other machines).
import type { Command } from 'commander';
import { startHeadend, type HeadendConfig } from '../headend/main.ts';

interface Flags {
  node: string;
  broker: string;
  brokerPort?: string;
  password?: string;
  mqtt5?: boolean;
  shareGroup?: string;
  registry: string;
  udp?: string;
  apps: string;
  keys: string;
  carousel: string;
  interval: string;
}

function config(f: Flags): HeadendConfig {
  const [udpHost, udpPort] = (f.udp ?? '127.0.0.1:0').split(':');
  return {
    node: f.node,
    broker: f.broker,
    ...(f.brokerPort === undefined ? {} : { brokerPort: Number(f.brokerPort) }),
    ...(f.password === undefined ? {} : { password: f.password }),
    ...(f.mqtt5 === true ? { mqttVersion: 5 as const } : {}),
    ...(f.shareGroup === undefined ? {} : { shareGroup: f.shareGroup }),
    registry: f.registry,
    udpHost: udpHost ?? '127.0.0.1',
    udpPort: Number(udpPort ?? 0),
    apps: f.apps,
    keys: f.keys,
    carousel: f.carousel,
    intervalMs: Number(f.interval),
  };
}

async function run(f: Flags): Promise<void> {
  const h = await startHeadend(config(f));
  const n = h.node;
  console.log(JSON.stringify({ event: 'ready', node: n.id, broker: h.brokerUrl, udp: n.udpAddress, apps: n.catalog.names(), carousels: h.carousels.length }));
  const timer = setInterval(() => {
    const view = n.statistics.view();
    console.log(JSON.stringify({ event: 'stats', node: n.id, sessions: n.sessions.count, nodes: view.nodes.map((e) => ({ node: e.stats.node, state: e.state, sessions: e.stats.sessions })), counters: n.counters }));
  }, 5000);
  timer.unref();
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(timer);
  await h.close();
  console.log(JSON.stringify({ event: 'stopped', node: n.id }));
}

export function registerHeadend(program: Command): void {
  const h = program.command('headend').description('run head-end nodes');
  const common = (c: Command): Command =>
    c
      .option('--node <id>', 'node id', 'node-1')
      .option('--registry <spec>', 'sqlite:<file>, memory or redis://host:port', 'sqlite:.weft/registry.db')
      .option('--udp <host:port>', 'UDP address for other nodes (port 0: any)')
      .option('--apps <dir>', 'built apps', 'dist/apps')
      .option('--keys <dir>', 'trusted signing keys (*.pub.json)', '.weft/keys')
      .option('--carousel <spec>', 'broadcast carousels to host:port or group:port, or off', 'off')
      .option('--interval <ms>', 'statistics and heartbeat interval', '1000')
      .option('--password <secret>', 'this node\'s broker password (default: derived from .weft/node.key)')
      .option('--mqtt5', 'use MQTT 5 (session expiry, shared subscriptions)')
      .option('--share-group <name>', 'MQTT 5 shared subscription group for the box ingress');
  common(h.command('up').description('the embedded default: aedes broker, SQLite registry, one node, services'))
    .option('--broker-port <port>', 'embedded broker port (0: any)', '1883')
    .action(async (f: Omit<Flags, 'broker'>) => run({ ...f, broker: 'embedded' }));
  common(h.command('node').description('join a node to a shared MQTT broker and registry'))
    .requiredOption('--broker <url>', 'shared MQTT broker, mqtt://host:port')
    .action(async (f: Flags) => run(f));
}
