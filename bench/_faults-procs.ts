// The processes bench/faults kills and restarts: `weft headend up` and `weft headend node` as a
// user runs them, mosquitto on a fixed port (so a restart is the same broker to the boxes), and
// fleets (bench/_faults-fleet.ts). Each is a child this bench started and ends by its own pid.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { mosquittoAclFile } from '../headend/broker/broker-acl.ts';
import { derivedBoxSecret } from '../headend/broker/broker-auth.ts';
import { mqttUsername } from '../transport/mqtt-options.ts';
import { TopicScheme } from '../transport/mqtt-topics.ts';

export const ROOT = new URL('../', import.meta.url).pathname;

export type Json = Record<string, unknown>;

/** A child printing JSON lines: each parsed line goes to `lines` and to whoever waits for one. */
export class JsonChild {
  readonly child: ChildProcess;
  readonly lines: Json[] = [];
  readonly name: string;
  #waiters: { pred: (j: Json) => boolean; resolve: (j: Json) => void }[] = [];
  #err = '';

  constructor(name: string, cmd: string, args: string[], cwd: string) {
    this.name = name;
    this.child = spawn(cmd, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let buf = '';
    this.child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let j: Json;
        try {
          j = JSON.parse(line) as Json;
        } catch {
          continue; // a table or a human line
        }
        this.lines.push(j);
        for (const w of [...this.#waiters]) {
          if (!w.pred(j)) continue;
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(j);
        }
      }
    });
    this.child.stderr?.on('data', (d: Buffer) => (this.#err = (this.#err + d.toString()).slice(-4000)));
    this.child.stdin?.on('error', () => undefined); // a child killed -9 closes its stdin
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** The next line (from now) for which `pred` holds; rejects when the child exits first or after `ms`. */
  next(pred: (j: Json) => boolean, ms: number, what: string): Promise<Json> {
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (j: Json) => (clearTimeout(timer), this.child.removeListener('exit', onExit), resolve(j)) };
      const onExit = (code: number | null): void => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code}) before ${what}: ${this.#err.slice(-800)}`));
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        this.child.removeListener('exit', onExit);
        reject(new Error(`${this.name}: no ${what} within ${ms} ms: ${this.#err.slice(-800)}`));
      }, ms);
      this.#waiters.push(w);
      this.child.once('exit', onExit);
    });
  }

  send(line: string): void {
    if (!this.exited) this.child.stdin?.write(`${line}\n`);
  }

  kill9(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  /** SIGTERM, then SIGKILL after `ms`. */
  async stop(ms = 10_000): Promise<void> {
    if (this.exited) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    const hard = setTimeout(() => this.kill9(), ms);
    await done;
    clearTimeout(hard);
  }
}

export interface HeadendSpec {
  work: string;
  node: string;
  registry: string;
  /** `up` with its embedded broker on this port, or `node` on a shared broker. */
  broker: { embeddedPort: number } | { url: string; password: string };
  carousel: string;
  udp?: string;
  clusterKeyFile?: string;
  intervalMs?: number;
  /** MQTT 5 with this shared-subscription group for the box ingress (several nodes on one broker). */
  shareGroup?: string;
}

/** `weft headend up|node`, cwd `work` (its .weft/ keys): resolves once it printed `ready`. */
export async function startHeadendProcess(s: HeadendSpec): Promise<JsonChild> {
  const common = ['--node', s.node, '--registry', s.registry, '--apps', join(s.work, 'dist', 'apps'), '--keys', join(s.work, 'keys'), '--carousel', s.carousel, '--console', 'off', '--interval', String(s.intervalMs ?? 1000)];
  if (s.udp !== undefined) common.push('--udp', s.udp);
  if (s.clusterKeyFile !== undefined) common.push('--cluster-key-file', s.clusterKeyFile);
  if (s.shareGroup !== undefined) common.push('--mqtt5', '--share-group', s.shareGroup);
  const args = 'embeddedPort' in s.broker ? ['headend', 'up', '--broker-port', String(s.broker.embeddedPort), ...common] : ['headend', 'node', '--broker', s.broker.url, '--password', s.broker.password, ...common];
  const c = new JsonChild(`headend ${s.node}`, process.execPath, [join(ROOT, 'cli', 'bin.mjs'), ...args], s.work);
  await c.next((j) => j.event === 'ready', 60_000, 'ready');
  return c;
}

export interface FleetSpec {
  work: string;
  url: string;
  count: number;
  prefix: string;
  carousel: string;
  mix?: string;
  askEveryMs?: number;
  deadlineMs?: number;
}

/** A fleet child (bench/_faults-fleet.ts): resolves once every box started. */
export async function startFleetProcess(f: FleetSpec): Promise<JsonChild> {
  const args = ['--import', import.meta.resolve('tsx'), join(ROOT, 'bench', '_faults-fleet.ts'), '--url', f.url, '--master', join(f.work, '.weft', 'master.key'), '--count', String(f.count), '--prefix', f.prefix, '--carousel', f.carousel, '--trust', join(f.work, 'keys', 'dev.pub.json'), '--ask-every', String(f.askEveryMs ?? 1000), '--deadline', String(f.deadlineMs ?? 3000)];
  if (f.mix !== undefined) args.push('--mix', f.mix);
  const c = new JsonChild(`fleet ${f.prefix}`, process.execPath, args, f.work);
  await c.next((j) => j.event === 'started', 300_000, 'started');
  return c;
}

/** Mosquitto on a fixed loopback port with the Weft ACL; `kill9` and `restart` keep port and config. */
export class MosquittoProcess {
  readonly url: string;
  #conf: string;
  #proc: ChildProcess | undefined;

  private constructor(port: number, conf: string) {
    this.url = `mqtt://127.0.0.1:${port}`;
    this.#conf = conf;
  }

  /** Users: the nodes (with their passwords) and boxes `<prefix>-1..count` with secrets derived from the master key. */
  static async start(dir: string, port: number, nodes: { id: string; password: string }[], boxes: { prefix: string; count: number }[], master: string): Promise<MosquittoProcess> {
    const users = [...nodes.map((n) => ({ name: mqttUsername('headend', n.id), password: n.password }))];
    for (const b of boxes) for (let i = 1; i <= b.count; i++) users.push({ name: `${b.prefix}-${i}`, password: derivedBoxSecret(master, `${b.prefix}-${i}`) });
    writeFileSync(join(dir, 'passwd'), `${users.map((u) => `${u.name}:${mosquittoHash(u.password)}`).join('\n')}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'acl'), mosquittoAclFile(new TopicScheme(), nodes.map((n) => n.id)), { mode: 0o600 });
    const conf = join(dir, 'mosquitto.conf');
    const lines = [`listener ${port} 127.0.0.1`, 'allow_anonymous false', `password_file ${join(dir, 'passwd')}`, `acl_file ${join(dir, 'acl')}`, 'set_tcp_nodelay true', 'use_username_as_clientid true', 'persistence false', 'max_inflight_messages 1000', 'max_queued_messages 100000', 'log_dest none'];
    if (process.getuid?.() === 0) lines.push('user root');
    writeFileSync(conf, `${lines.join('\n')}\n`, { mode: 0o600 });
    const m = new MosquittoProcess(port, conf);
    await m.restart();
    return m;
  }

  /** Start it (again): resolves once it listens. */
  async restart(): Promise<void> {
    const program = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => { try { execFileSync('test', ['-x', p]); return true; } catch { return false; } });
    if (program === undefined) throw new Error('mosquitto is not installed');
    this.#proc = spawn(program, ['-c', this.#conf], { stdio: 'ignore' });
    const port = Number(new URL(this.url).port);
    const until = performance.now() + 10_000;
    while (performance.now() < until) {
      if (await listening(port)) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`mosquitto did not listen on ${port}`);
  }

  kill9(): void {
    this.#proc?.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    const p = this.#proc;
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await done;
  }
}

/** mosquitto 2.x password line: $7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512>. */
function mosquittoHash(password: string): string {
  const salt = randomBytes(12);
  return `$7$101$${salt.toString('base64')}$${pbkdf2Sync(password, salt, 101, 64, 'sha512').toString('base64')}`;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
