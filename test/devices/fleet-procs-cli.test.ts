// `weft fleet run --procs 2` and `--light` as a user types them [issue 19, build 5]: real child
// processes, a carousel on loopback, a head-end counterpart on an embedded broker that knows each
// box by the master-key derivation; one summary and one `stopped` line for the whole fleet.
import { execFileSync, spawn } from 'node:child_process';
import { type AddressInfo, type Socket, connect, createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { onAir } from '../_helpers/on-air.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { NODE } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';
import { derivedCredentials } from '../../headend/broker/broker-auth.ts';
import { startAedesBroker, type EmbeddedBroker } from '../../headend/broker/broker-aedes.ts';
import { loadEngine } from '../../sandbox/index.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

function weft(args: string[]): Promise<{ code: number | null; lines: Record<string, unknown>[]; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => resolve({ code, lines: out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>), err }));
  });
}

test('--procs 2: two processes share out the boxes, one summary and one stopped line for all', async (t) => {
  const { args } = await onAir(t);
  const r = await weft(['fleet', 'run', '--count', '4', '--procs', '2', '--mix', 'broadcast-only:1', ...args, '--exit-on', 'degraded', '--timeout', '120', '--summary-every', '0.5']);
  t.is(r.code, 0, r.err);
  t.deepEqual(r.lines.at(-1), { event: 'stopped', states: { degraded: 4 }, requests: { sent: 0, ok: 0, retried: 0, failed: 0, overdue: 0 } }, 'states and request fates of both children added up');
  const fleet = r.lines.filter((l) => l.event === 'fleet');
  t.true(fleet.length > 0);
  t.like(fleet.at(-1), { procs: 2, boxes: 4, states: { degraded: 4 }, died: 0 });
});

/** An embedded broker that knows each box by the master-key derivation, a head-end counterpart on it, the key file. */
async function lightHeadend(t: ExecutionContext): Promise<{ broker: EmbeddedBroker; he: Responder; keyFile: string }> {
  const master = 'fleet-cli-master-key-0123456789';
  const dir = mkdtempSync(join(tmpdir(), 'weft-light-'));
  const keyFile = join(dir, 'master.key');
  writeFileSync(keyFile, `${master}\n`);
  const broker = await startAedesBroker({ credentials: derivedCredentials(master, [NODE]), log: () => {} });
  const keys = await signer();
  const he = await Responder.start({ url: broker.url, engine: await loadEngine(), app: await guideApp(keys), trusted: keys.trusted, reportEveryMs: 60_000 });
  t.teardown(async () => {
    await he.close();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { broker, he, keyFile };
}

test('--light: boxes with only a channel, reports and a session reach up against a head-end', async (t) => {
  const { broker, he, keyFile } = await lightHeadend(t);
  const r = await weft(['fleet', 'run', '--light', '--app', 'guide@1.0.0', '--count', '3', '--mix', 'hd-dvr:1', '--headend', broker.url, '--master-key', keyFile, '--report-interval', '30', '--exit-on', 'up', '--timeout', '120']);
  t.is(r.code, 0, r.err);
  t.deepEqual(r.lines.at(-1), { event: 'stopped', states: { up: 3 } });
  t.is(he.opens.length, 3);
  t.deepEqual(he.opens.map((o) => o.boxId).sort(), ['box-1', 'box-2', 'box-3']);
  t.true(he.reports.length >= 3, 'each box reported once it was up');
});

/** A plain TCP forwarder to `port` standing for one more listener of a broker; counts what it accepted. */
async function listener(port: number): Promise<{ url: string; accepted: () => number; close: () => Promise<void> }> {
  let n = 0;
  const socks = new Set<Socket>();
  const server = createServer({ noDelay: true }, (s) => {
    n++;
    const up = connect({ host: '127.0.0.1', port, noDelay: true });
    for (const x of [s, up]) {
      socks.add(x);
      x.on('error', () => {}).once('close', () => socks.delete(x));
    }
    s.pipe(up).pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, accepted: () => n, close: () => new Promise<void>((r) => { for (const x of socks) x.destroy(); server.close(() => r()); }) };
}

test('--light over several --headend listeners: each box dials one, by its id, and all reach up', async (t) => {
  const { broker, keyFile } = await lightHeadend(t);
  const port = Number(new URL(broker.url).port);
  const a = await listener(port);
  const b = await listener(port);
  t.teardown(async () => {
    await a.close(); // ava runs teardowns last-registered first: the listeners before the broker
    await b.close();
  });
  const r = await weft(['fleet', 'run', '--light', '--app', 'guide@1.0.0', '--count', '8', '--mix', 'hd-dvr:1', '--headend', `${a.url},${b.url}`, '--master-key', keyFile, '--report-interval', '30', '--exit-on', 'up', '--timeout', '120']);
  t.is(r.code, 0, r.err);
  t.deepEqual(r.lines.at(-1), { event: 'stopped', states: { up: 8 } });
  t.is(a.accepted() + b.accepted(), 8, 'one connection a box');
  t.true(a.accepted() > 0 && b.accepted() > 0, `both listeners took boxes (${a.accepted()} / ${b.accepted()})`);
});

test('several --headend brokers for full boxes is a one-line user error', async (t) => {
  const r = await weft(['fleet', 'run', '--count', '2', '--headend', 'mqtt://127.0.0.1:1883,mqtt://127.0.0.1:1884']);
  t.is(r.code, 2);
  t.regex(r.err, /several --headend brokers spread --light boxes only/);
  t.notRegex(r.err, /\n\s+at /, 'no stack');
});

test('--light without a head-end is a one-line user error', async (t) => {
  const r = await weft(['fleet', 'run', '--light', '--count', '2']);
  t.is(r.code, 2);
  t.regex(r.err, /--light boxes need a head-end/);
  t.notRegex(r.err, /\n\s+at /, 'no stack');
});

test('--procs 2: SIGTERM to the fleet ends both children and prints the final states', async (t) => {
  const { args } = await onAir(t);
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'fleet', 'run', '--count', '2', '--procs', '2', '--mix', 'broadcast-only:1', ...args, '--summary-every', '0.5'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  const booted = new Promise<void>((resolve) =>
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      lines.push(...parts);
      if (parts.some((l) => l.includes('"procs":2') && l.includes('"degraded":2'))) resolve();
    }),
  );
  await booted;
  const kids = execFileSync('ps', ['--ppid', String(child.pid), '-o', 'pid=']).toString().trim().split(/\s+/).map(Number).filter((n) => n > 0);
  t.is(kids.length, 2, 'two fleet processes');
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  t.is(await exited, 0);
  const last = '{"event":"stopped","states":{"degraded":2},"requests":{"sent":0,"ok":0,"retried":0,"failed":0,"overdue":0}}';
  t.true(lines.some((l) => l === last) || buf === last, lines.slice(-3).join('\n'));
  for (const pid of kids) t.throws(() => process.kill(pid, 0), undefined, `child ${pid} is gone`);
});
