// `weft headend node` joins a cluster, so it needs the cluster key of node-to-node UDP: without
// one (or with an unreadable key file) it stops with one line and no stack.

import test from 'ava';
import { spawn } from 'node:child_process';
import { startHeadend } from '../../headend/main.ts';
import { ArgumentError } from '../../runtime/index.ts';

const CLI = new URL('../../cli/main.ts', import.meta.url).pathname;

function weft(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
}

test('startHeadend on a shared broker refuses to start without a cluster key, or with a short one', async (t) => {
  await t.throwsAsync(startHeadend({ broker: 'mqtt://127.0.0.1:1', registry: 'memory', log: () => {} }), { instanceOf: ArgumentError, message: /needs the cluster key/ });
  await t.throwsAsync(startHeadend({ broker: 'mqtt://127.0.0.1:1', clusterKey: 'short', log: () => {} }), { instanceOf: ArgumentError, message: /at least 16 bytes/ });
});

test('weft headend node: a missing cluster key or key file is one line on stderr, exit code 2', async (t) => {
  const env = { ...process.env };
  delete env.WEFT_CLUSTER_KEY;
  const base = ['headend', 'node', '--broker', 'mqtt://127.0.0.1:1', '--registry', 'memory'];
  const [missing, unreadable] = await Promise.all([weft(base, env), weft([...base, '--cluster-key-file', '/nonexistent/weft.key'], env)]);
  t.is(missing.code, 2);
  t.is(missing.stderr, 'weft: a node on a shared broker needs the cluster key: --cluster-key-file <path> or WEFT_CLUSTER_KEY\n');
  t.is(unreadable.code, 2);
  t.is(unreadable.stderr, 'weft: cannot read the cluster key file /nonexistent/weft.key: ENOENT\n');
});

test('weft headend node: a redis-cluster:// registry URL that is not a seed list is one line on stderr, exit code 2', async (t) => {
  const env = { ...process.env, WEFT_CLUSTER_KEY: 'a-cluster-key-of-32-bytes-000000' };
  const base = ['headend', 'node', '--broker', 'mqtt://127.0.0.1:1'];
  const [noPort, empty] = await Promise.all([weft([...base, '--registry', 'redis-cluster://10.0.0.1'], env), weft([...base, '--registry', 'redis-cluster://'], env)]);
  t.is(noPort.code, 2);
  t.is(noPort.stderr, 'weft: registry must be redis-cluster://host:port[,host:port...]: "10.0.0.1" is not host:port (port 1-65535)\n');
  t.is(empty.code, 2);
  t.regex(empty.stderr, /^weft: registry must be redis-cluster:\/\/host:port\[,host:port\.\.\.\] with 1 to 32 seed nodes, got "redis-cluster:\/\/"\n$/);
});
