// [issue 19, build 6] The embedded broker answers CONNECT and PINGREQ on a loop of its own. With
// aedes on the node's loop, a box's CONNACK or PINGRESP waited behind whatever the node did
// (session setups, registry writes, GC): 6,000 arriving light boxes took that for 13,850 dead
// paths (bench -- scale). Each test blocks this thread (the node's) in Atomics.wait while a box in
// another thread dials: the box is answered only if the broker does not need this thread.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { connectAsync } from 'mqtt';
import { startAedesBroker } from '../../headend/broker/broker-aedes.ts';
import { derivedBoxSecret, headendCredentials } from '../../headend/broker/broker-auth.ts';
import { startAedesBrokerThread } from '../../headend/broker/broker-thread.ts';
import { ArgumentError } from '../../runtime/index.ts';
import { until } from '../_helpers/mqtt-fixtures.ts';

const MASTER = randomBytes(24).toString('base64url');
const keys = { boxKey: MASTER, node: 'node-1', nodeKey: randomBytes(24).toString('base64url') };
const PROBE = new URL('../_helpers/connack-probe.mjs', import.meta.url);
/** How long this thread stays blocked at most: a bound for a failing run, never reached by a passing one. */
const BLOCK_MS = 20_000;

/** A box in another thread dials `port` while this thread is blocked; what it got before this thread ran again. */
function dialWhileBlocked(port: number, boxId: string, password = derivedBoxSecret(MASTER, boxId), blockMs = BLOCK_MS): { got: 'nothing' | 'connack' | 'pingresp' | 'error'; rc: number } {
  const sab = new SharedArrayBuffer(8);
  const flag = new Int32Array(sab);
  const w = new Worker(PROBE, { workerData: { port, clientId: boxId, username: boxId, password, sab } });
  const end = Date.now() + blockMs; // a bound only: the outcome is the flag, not the time
  for (;;) {
    const v = Atomics.load(flag, 0);
    if (v === 2 || v < 0 || (v === 1 && Atomics.load(flag, 1) !== 0)) break;
    const left = end - Date.now();
    if (left <= 0) break;
    Atomics.wait(flag, 0, v, left); // blocks this thread: its event loop runs nothing meanwhile
  }
  void w.terminate();
  const v = Atomics.load(flag, 0);
  return { got: v === 2 ? 'pingresp' : v === 1 ? 'connack' : v < 0 ? 'error' : 'nothing', rc: Atomics.load(flag, 1) };
}

test('a box is answered CONNACK and PINGRESP while the node thread is blocked', async (t) => {
  const broker = await startAedesBrokerThread({ keys });
  t.teardown(() => broker.close());
  t.deepEqual(dialWhileBlocked(broker.port, 'box-1'), { got: 'pingresp', rc: 0 });
});

test('on the node thread (startAedesBroker) the same box gets nothing while the node is blocked', async (t) => {
  // The old embedding, and the contrast that makes the test above mean something: whatever the
  // bound, the in-process broker cannot read a CONNECT until this thread runs again.
  const { store } = headendCredentials(keys);
  const broker = await startAedesBroker({ credentials: store, log: () => {} });
  t.teardown(() => broker.close());
  t.deepEqual(dialWhileBlocked(broker.port, 'box-2', undefined, 500), { got: 'nothing', rc: 0 });
});

test('identity holds in the thread: a wrong password is refused and counted, the node logs in', async (t) => {
  const rejected: string[] = [];
  const broker = await startAedesBrokerThread({ keys, log: (e) => rejected.push(e.reason) });
  t.teardown(() => broker.close());
  t.deepEqual(dialWhileBlocked(broker.port, 'box-3', 'not-the-secret'), { got: 'connack', rc: 4 });
  const node = await connectAsync(broker.url, { clientId: 'node-1@headend', username: 'node-1@headend', password: headendCredentials(keys).nodePassword, reconnectPeriod: 0 });
  await node.endAsync();
  await until(() => broker.stats().authFailed === 1, 10_000, 'the refusal counted');
  t.deepEqual(rejected, ['authFailed']);
});

test('a thread that dies is started again on the same port, boxes dial it again', async (t) => {
  const threads: Worker[] = [];
  const broker = await startAedesBrokerThread({ keys, onThread: (w) => void threads.push(w) });
  t.teardown(() => broker.close());
  await threads[0]?.terminate();
  await until(() => threads.length === 2, 10_000, 'a second thread');
  await broker.whenUp();
  const c = await connectAsync(broker.url, { clientId: 'box-4', username: 'box-4', password: derivedBoxSecret(MASTER, 'box-4'), reconnectPeriod: 100, connectTimeout: 10_000 });
  await c.endAsync();
  t.is(broker.restarts, 1);
  t.is(broker.failed, undefined);
});

test('unknown options are refused by name; keys are required', async (t) => {
  await t.throwsAsync(() => startAedesBrokerThread({ keys, credentials: {} } as never), { instanceOf: ArgumentError, message: /credentials/ });
  await t.throwsAsync(() => startAedesBrokerThread({} as never), { instanceOf: ArgumentError, message: /keys/ });
});
