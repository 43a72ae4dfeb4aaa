// `weft headend up` (the embedded default: aedes, SQLite, one node, carousel, services) and
// `weft headend node` (join a node to a shared broker and registry on other machines).
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { startHeadend, type HeadendConfig } from '../headend/main.ts';
import { nodeSource, startConsole, type RunningConsole } from '../headend/console/index.ts';
import { intOption, UserError } from './user-error.ts';
import { ipOption, ttlOption } from './net-options.ts';
import { registerDrain } from './headend-drain.ts';
import { LogRing } from '../headend/console/log-ring.ts';
import { OtelNodeTracer } from '../headend/trace/tracer-otel.ts';
import { createLogger, lineLog, type Logger } from '../headend/log.ts';
import { attachReleases, releaseRoutes } from '../headend/releases/index.ts';
import { operatorSigner, startRollout } from '../headend/releases/rollout-start.ts';
import { ClusterRollout } from '../headend/releases/rollout-cluster.ts';
import { openReleaseStore } from '../headend/releases/open-store.ts';
import { DEFAULT_CAROUSEL_TARGET } from '../carousel/index.ts';

interface Flags {
  node: string;
  broker: string;
  brokerPort?: number;
  password?: string;
  mqtt5?: boolean;
  shareGroup?: string;
  registry: string;
  udp?: string;
  apps: string;
  keys: string;
  carousel?: string;
  interval: number;
  console: string;
  consoleToken?: string;
  clusterKeyFile?: string;
  logLevel?: string;
  host?: string;
  interface?: string;
  ttl?: number;
  json?: boolean;
  otlp?: string;
  operatorKey?: string;
}

/** The operator key that signs rollout directives: --operator-key, else <keys>/operator.jwk.json, else the lab's <keys>/dev.jwk.json. */
function operatorKeyText(f: Flags): string | undefined {
  if (f.operatorKey !== undefined) {
    try {
      return readFileSync(f.operatorKey, 'utf8');
    } catch (e) {
      throw new UserError(`cannot read the operator key ${f.operatorKey}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  for (const name of ['operator.jwk.json', 'dev.jwk.json']) {
    try {
      return readFileSync(`${f.keys}/${name}`, 'utf8');
    } catch {
      /* the next candidate */
    }
  }
  return undefined;
}

/** The UDP cluster key: --cluster-key-file, else WEFT_CLUSTER_KEY, else none (startHeadend decides). */
function clusterKey(f: Flags): string | undefined {
  if (f.clusterKeyFile !== undefined) {
    try {
      return readFileSync(f.clusterKeyFile, 'utf8').trim();
    } catch (e) {
      throw new UserError(`cannot read the cluster key file ${f.clusterKeyFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const env = process.env.WEFT_CLUSTER_KEY?.trim();
  return env === undefined || env === '' ? undefined : env;
}

/** `--console host:port` (port 0: any free port, so nodes on one host never collide) or `off`. */
export function parseConsole(spec: string): { host: string; port: number } | undefined {
  if (spec === 'off') return undefined;
  const i = spec.lastIndexOf(':');
  const host = i < 0 ? spec : spec.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = i < 0 ? 0 : Number(spec.slice(i + 1));
  if (host === '' || !Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--console: "${spec}" is not host:port or off`, 'e.g. --console 127.0.0.1:8080, or 0.0.0.0:0 for any port on every interface');
  return { host, port };
}

function config(f: Flags): HeadendConfig {
  const [udpHost, udpPort] = (f.udp ?? '127.0.0.1:0').split(':');
  const key = clusterKey(f);
  return {
    ...(key === undefined ? {} : { clusterKey: key }),
    node: f.node,
    broker: f.broker,
    ...(f.brokerPort === undefined ? {} : { brokerPort: f.brokerPort }),
    ...(f.password === undefined ? {} : { password: f.password }),
    ...(f.mqtt5 === true ? { mqttVersion: 5 as const } : {}),
    ...(f.shareGroup === undefined ? {} : { shareGroup: f.shareGroup }),
    registry: f.registry,
    udpHost: udpHost ?? '127.0.0.1',
    udpPort: Number(udpPort ?? 0),
    apps: f.apps,
    keys: f.keys,
    carousel: f.carousel ?? (f.broker === 'embedded' ? DEFAULT_CAROUSEL_TARGET : 'off'),
    intervalMs: f.interval,
    ...(f.host === undefined ? {} : { brokerHost: f.host }),
    ...(f.interface === undefined ? {} : { carouselInterface: f.interface }),
    ...(f.ttl === undefined ? {} : { carouselTtl: f.ttl }),
  };
}

async function run(f: Flags): Promise<void> {
  const where = parseConsole(f.console);
  let logger: Logger;
  const recent = new LogRing(100);
  try {
    // --json: stdout carries only state objects (ready, stats, drain, stopped); the log goes to stderr.
    logger = createLogger({ component: 'headend', recent, ...(f.json === true ? { stderr: true } : {}), ...(f.logLevel === undefined ? {} : { level: f.logLevel }) });
  } catch (e) {
    throw new UserError(`--log-level: ${(e as Error).message}`);
  }
  const state = (o: Record<string, unknown>, msg: string): void => (f.json === true ? console.log(JSON.stringify(o)) : logger.info(o, msg));
  const otlp = f.otlp ?? process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  // Spans are made only for envelopes a box sampled (--trace-rate on the boxes); exported only with --otlp.
  const tracer = new OtelNodeTracer({ node: f.node, logger: logger.child({ node: f.node }), ...(otlp === undefined || otlp === '' ? {} : { export: otlp }) });
  const h = await startHeadend({ ...config(f), tracer, log: lineLog(logger.child({ node: f.node }), 'warn') });
  const n = h.node;
  const token = f.consoleToken ?? process.env.WEFT_CONSOLE_TOKEN;
  const store = await openReleaseStore(f.registry);
  const releases = await attachReleases({ catalog: n.catalog, trusted: n.trusted, store, now: () => Date.now(), log: (line) => logger.info({ event: 'log', node: n.id }, line) });
  const rollout = await startRollout({ releases, store, carousels: h.broadcasters, reports: n.sessions, catalog: n.catalog, sign: await operatorSigner(operatorKeyText(f)), now: () => Date.now(), log: (line) => logger.info({ event: 'log', node: n.id }, line) });
  // [issue 15] one driver per cluster: the registry's lease picks it; the other nodes relay their boxes' reports to it.
  const cluster = new ClusterRollout(n, rollout, n.sessions);
  const rolloutTimer = setInterval(() => {
    void cluster.tick().catch((e: unknown) => logger.warn({ event: 'log', node: n.id }, `rollout: ${(e as Error).message}`));
    void rollout.sync?.sync(); // [issue 15.6] the fallback for a change made through another node (D103: its announcement syncs at once)
  }, 1000);
  rolloutTimer.unref();
  let ops: RunningConsole | undefined;
  if (where !== undefined) {
    ops = await startConsole({
      ...where,
      source: nodeSource(n, { logs: recent }),
      ...(token === undefined ? {} : { token }),
      onAction: (name, ok, detail) => logger.info({ event: 'action', node: n.id, action: name, ok, detail }, `operator action ${name}`),
      routes: [(app, guard) => releaseRoutes(app, releases, guard, () => 'operator')],
    });
  }
  // The operator token is printed only when this process made it up (no --console-token or WEFT_CONSOLE_TOKEN).
  const consoleInfo = ops === undefined ? {} : { console: ops.url, ...(token === undefined ? { consoleToken: ops.token } : {}) };
  state({ event: 'ready', node: n.id, broker: h.brokerUrl, udp: n.udpAddress, apps: n.catalog.names(), carousels: h.carousels.length, ...consoleInfo }, 'ready');
  const timer = setInterval(() => {
    const view = n.statistics.view();
    // [issue 15.6] version pairing: sessions switched in place, switches that failed, opens refused VERSION_MISMATCH.
    const pairing = { switched: n.sessions.switches.stats.switched, switchFailed: n.sessions.switches.stats.failed, upgraded: n.upgrades.upgraded, repinned: n.upgrades.repinned, mismatched: n.sessions.counters.mismatched, replaceMismatched: n.sessions.counters.replaceMismatched, unrecorded: n.sessions.switches.stats.unrecorded, switchQueued: n.sessions.switches.stats.queued, switchSuperseded: n.sessions.switches.stats.superseded, switchOlderHost: n.sessions.switches.stats.olderHost, switchOrderUnread: n.sessions.switches.stats.orderUnread, badSwitchIds: n.registry.faults?.switchId ?? 0 };
    const catalogFill = rollout.fill?.stats(); // versions seen before this node's catalog synced them
    const catalogSync = rollout.sync?.stats(); // [D103] announcements heard, the syncs they made, bad ones dropped
    state({ event: 'stats', node: n.id, sessions: n.sessions.count, pairing, ...(catalogFill === undefined ? {} : { catalogFill }), ...(catalogSync === undefined ? {} : { catalogSync }), nodes: view.nodes.map((e) => ({ node: e.stats.node, state: e.state, sessions: e.stats.sessions })), counters: n.counters, carousel: carouselStats(h.carousels) }, 'stats');
  }, 5000);
  timer.unref();
  // A drain (console action or `weft headend drain`) that ends with the node out of the cluster ends the process.
  let drained = (): void => {};
  const left = new Promise<void>((resolve) => (drained = resolve));
  n.drainer.onProgress((p) => {
    state({ event: 'drain', node: n.id, ...p }, `drain ${p.state}`);
    if (p.state === 'left') drained();
  });
  await Promise.race([
    new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    }),
    // Answers to what was forwarded just before the node left still pass its UDP socket: a short grace.
    left.then(() => new Promise((r) => setTimeout(r, 2 * f.interval))),
  ]);
  clearInterval(timer);
  clearInterval(rolloutTimer);
  await cluster.release().catch(() => undefined);
  await ops?.close();
  await store.close();
  await h.close();
  await tracer.close();
  state({ event: 'stopped', node: n.id }, 'stopped');
}

/** Datagrams sent and sends failed over every carousel this head-end broadcasts (udp-io.ts counts them). */
function carouselStats(servers: { stats(): { sent: number; sendErrors: number } }[]): { sent: number; sendErrors: number } {
  return servers.reduce((a, c) => ({ sent: a.sent + c.stats().sent, sendErrors: a.sendErrors + c.stats().sendErrors }), { sent: 0, sendErrors: 0 });
}

export function registerHeadend(program: Command): void {
  const h = program.command('headend').description('run head-end nodes');
  const common = (c: Command): Command =>
    c
      .option('--node <id>', 'node id', 'node-1')
      .option('--registry <spec>', 'sqlite:<file>, memory, redis://host:port or redis-cluster://host:port[,host:port...]', 'sqlite:.weft/registry.db')
      .option('--udp <host:port>', 'UDP address for other nodes (port 0: any)')
      .option('--apps <dir>', 'built apps', 'dist/apps')
      .option('--keys <dir>', 'trusted signing keys (*.pub.json)', '.weft/keys')
      .option('--carousel <spec>', `broadcast carousels to host:port or group:port, or off (default: ${DEFAULT_CAROUSEL_TARGET} for up, where boxes listen by default; off for node)`)
      .option('--interval <ms>', 'statistics and heartbeat interval', intOption(10, 3_600_000), 1000)
      .option('--password <secret>', 'this node\'s broker password (default: derived from .weft/node.key)')
      .option('--mqtt5', 'use MQTT 5 (session expiry, shared subscriptions)')
      .option('--share-group <name>', 'MQTT 5 shared subscription group for the box ingress')
      .option('--console <host:port>', 'serve the operator console and /metrics here (port 0: any free port; off: none)', '127.0.0.1:0')
      .option('--console-token <token>', 'operator token for console actions (default: WEFT_CONSOLE_TOKEN, else a random one printed at start)')
      .option('--log-level <level>', 'trace, debug, info, warn, error or silent (default: WEFT_LOG_LEVEL, else info)')
      .option('--cluster-key-file <path>', 'key of the MAC on node-to-node UDP, the same file on every node (or env WEFT_CLUSTER_KEY)')
      .option('--interface <ip>', 'local interface address the multicast carousel is sent on (default: the system\'s choice)', ipOption('the address of a local interface'))
      .option('--ttl <n>', 'multicast TTL of the carousel (1: this segment only)', ttlOption)
      .option('--otlp <url>', 'export trace spans over OTLP/HTTP, e.g. http://collector:4318/v1/traces (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; default: none)')
      .option('--operator-key <file>', 'operator signing key (JWK) for rollout directives (default: <keys>/operator.jwk.json, else the lab\'s <keys>/dev.jwk.json)')
      .option('--json', 'stdout carries only state objects, one JSON object per line (ready, stats, drain, stopped); the log goes to stderr');
  common(h.command('up').description('the embedded default: aedes broker, SQLite registry, one node, services'))
    .option('--broker-port <port>', 'embedded broker port (0: any)', intOption(0, 65535), 1883)
    .option('--host <ip>', 'address the embedded broker binds (0.0.0.0: boxes on other machines)', ipOption('an address to bind'), '127.0.0.1')
    .action(async (f: Omit<Flags, 'broker'>) => run({ ...f, broker: 'embedded' }));
  common(h.command('node').description('join a node to a shared MQTT broker and registry'))
    .requiredOption('--broker <url>', 'shared MQTT broker, mqtt://host:port')
    .action(async (f: Flags) => run(f));
  registerDrain(h);
}
