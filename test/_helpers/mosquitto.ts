// Starts a real mosquitto on a free loopback port with a generated config: no anonymous access,
// a password file (mosquitto_passwd when installed, else PBKDF2 lines written here), the Weft
// per-box ACL, TCP_NODELAY, optionally TLS with client certificates. Stops it and removes its
// files after. No ava imports (bench uses it).

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { freeTcpPort } from './ports.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mosquittoAclFile } from '../../headend/broker/broker-acl.ts';
import { mqttUsername } from '../../transport/mqtt-options.ts';
import { TopicScheme } from '../../transport/mqtt-topics.ts';

export interface MosquittoUser {
  id: string;
  password: string;
  role: 'box' | 'headend';
}

export interface MosquittoOptions {
  users: MosquittoUser[];
  prefix?: string;
  /** Replace the generated ACL file text (tests that loosen it on purpose). */
  aclText?: string;
  /** `max_packet_size`: larger packets get the client disconnected. Default 1 MiB + 4 KiB. */
  maxPacketBytes?: number;
  /** Log every packet (`log_type all`): needed to see "Denied PUBLISH" lines, too slow for benchmarks. */
  debugLog?: boolean;
  /** Write the password file without mosquitto_passwd even when it is installed. */
  ownPasswordFile?: boolean;
  /** Serve MQTT over TLS (the url becomes mqtts://). */
  tls?: MosquittoTls;
  /** Plain listeners on this many ports (default 1): mosquitto listens with a fixed backlog of 100
   *  each, so a reconnect storm of 18,000 boxes overflows one (bench scale spreads boxes over them). */
  listeners?: number;
}

export interface MosquittoTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Clients must present a certificate signed by `caFile`; its CN is the username (mTLS). */
  requireCertificate?: boolean;
}

export interface RunningMosquitto {
  url: string;
  port: number;
  /** Every listener's URL, `url` first (`listeners`). */
  urls: string[];
  dir: string;
  /** The broker's log so far. */
  log(): string;
  /** Stop the broker process (every client drops) and start it again on the same port with the same config (users, ACL): nothing kept, as `persistence false`. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startMosquitto(program: string, options: MosquittoOptions): Promise<RunningMosquitto> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(program, options);
    } catch (e) {
      lastError = e; // most likely the free port was taken in between: try another
    }
  }
  throw lastError;
}

async function startOnce(program: string, o: MosquittoOptions): Promise<RunningMosquitto> {
  const n = o.listeners ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`startMosquitto: listeners must be an integer in 1..64, got ${n}`);
  if (n > 1 && o.tls !== undefined) throw new Error('startMosquitto: several listeners are plain MQTT only; drop tls or listeners');
  const dir = mkdtempSync(join(tmpdir(), 'weft-mosquitto-'));
  const port = await freeTcpPort();
  const more: number[] = [];
  while (more.length < n - 1) {
    const p = await freeTcpPort();
    if (p !== port && !more.includes(p)) more.push(p);
  }
  const passwd = join(dir, 'passwd');
  const acl = join(dir, 'acl');
  const logFile = join(dir, 'mosquitto.log');
  writePasswords(passwd, o.users, o.ownPasswordFile === true);
  const topics = new TopicScheme(o.prefix);
  writeFileSync(acl, o.aclText ?? mosquittoAclFile(topics, o.users.filter((u) => u.role === 'headend').map((u) => u.id)), { mode: 0o600 });
  const conf = [
    `listener ${port} 127.0.0.1`,
    ...tlsLines(o.tls),
    'allow_anonymous false',
    `password_file ${passwd}`,
    `acl_file ${acl}`,
    // Without it every QoS 1 round trip can wait for a delayed ACK: ~40 ms each.
    'set_tcp_nodelay true',
    // A box cannot connect under another box's client id and take its session over.
    'use_username_as_clientid true',
    'persistence false',
    // Weft keeps no retained messages: a box that sends one is disconnected, nothing is stored.
    'retain_available false',
    `max_packet_size ${o.maxPacketBytes ?? 1024 * 1024 + 4096}`,
    'max_inflight_messages 1000',
    'max_queued_messages 100000',
    `log_dest file ${logFile}`,
    ...(o.debugLog ? ['log_type all'] : ['log_type error', 'log_type warning', 'log_type notice']),
    'connection_messages true',
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    // The security settings above are global (per_listener_settings is false): they hold on every listener.
    ...more.map((p) => `listener ${p} 127.0.0.1`),
    '',
  ].join('\n');
  const confFile = join(dir, 'mosquitto.conf');
  writeFileSync(confFile, conf, { mode: 0o600 });
  // A small shell keeps watch: when this process dies without stop() (a test worker killed on a
  // timeout runs no exit handlers), the broker goes too instead of lingering on its port.
  const watch = [
    '"$0" -c "$1" & m=$!',
    'trap \'kill $m 2>/dev/null; wait $m; exit 0\' TERM',
    'while kill -0 "$2" 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 0.2; done',
    'kill $m 2>/dev/null; wait $m',
  ].join('\n');
  let stderr = '';
  const launch = (): ChildProcess => {
    const c = spawn('/bin/sh', ['-c', watch, program, confFile, String(process.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr?.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    return c;
  };
  let child = launch();
  // Kill it if this process exits without stop(). Several brokers may run at once: raise the
  // listener limit by one per broker (and lower it on stop) rather than trip the leak warning.
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.setMaxListeners(process.getMaxListeners() + 1);
  process.once('exit', killOnExit);
  const readLog = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const stop = async (): Promise<void> => {
    if (process.listeners('exit').includes(killOnExit)) {
      process.removeListener('exit', killOnExit);
      process.setMaxListeners(Math.max(10, process.getMaxListeners() - 1));
    }
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  const listening = async (): Promise<void> => {
    for (const p of [port, ...more]) await waitListening(p, child, 5000);
  };
  try {
    await listening();
  } catch (e) {
    const why = `${(e as Error).message}\n${stderr}\n${readLog()}`;
    await stop();
    throw new Error(`mosquitto did not start: ${why}`);
  }
  const restart = async (): Promise<void> => {
    await stopChild(child);
    child = launch();
    // The old listener's port can sit in TIME_WAIT for a moment: mosquitto sets SO_REUSEADDR, so a start that fails says why.
    await listening().catch((e: unknown) => {
      throw new Error(`mosquitto did not start again on ${port}: ${(e as Error).message}\n${stderr}\n${readLog()}`);
    });
  };
  const url = `${o.tls === undefined ? 'mqtt' : 'mqtts'}://127.0.0.1:${port}`;
  return { url, port, urls: [url, ...more.map((p) => `mqtt://127.0.0.1:${p}`)], dir, log: readLog, restart, stop };
}

function tlsLines(t: MosquittoTls | undefined): string[] {
  if (t === undefined) return [];
  const lines = [`cafile ${t.caFile}`, `certfile ${t.certFile}`, `keyfile ${t.keyFile}`, 'tls_version tlsv1.2'];
  // The certificate's CN becomes the username: the identity comes from the certificate and the
  // ACL patterns (%u) apply to it; a username the client sends is ignored.
  if (t.requireCertificate === true) lines.push('require_certificate true', 'use_identity_as_username true');
  return lines;
}

function writePasswords(file: string, users: MosquittoUser[], own: boolean): void {
  const tool = own ? undefined : ['/usr/bin/mosquitto_passwd', '/usr/sbin/mosquitto_passwd'].find((p) => existsSync(p));
  if (tool !== undefined) {
    writeFileSync(file, '', { mode: 0o600 });
    for (const u of users) execFileSync(tool, ['-b', file, mqttUsername(u.role, u.id), u.password], { stdio: 'ignore' });
    return;
  }
  // mosquitto 2.x format: $7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512, 64 bytes>
  const lines = users.map((u) => {
    const salt = randomBytes(12);
    const hash = pbkdf2Sync(u.password, salt, 101, 64, 'sha512');
    return `${mqttUsername(u.role, u.id)}:$7$101$${salt.toString('base64')}$${hash.toString('base64')}`;
  });
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
}


async function waitListening(port: number, child: ChildProcess, withinMs: number): Promise<void> {
  const until = Date.now() + withinMs;
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited with ${child.exitCode ?? child.signalCode}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 15));
  }
  throw new Error(`not listening on ${port} within ${withinMs} ms`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const hard = setTimeout(() => child.kill('SIGKILL'), 2000);
    child.once('exit', () => {
      clearTimeout(hard);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
