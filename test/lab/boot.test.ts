// The lab's reading of firmware lines and its command lines, without running anything.
import { Worker } from 'node:worker_threads';
import test from 'ava';
import { boxArgs, firmwareCommand, noteOf, procCpuMs, statCpuTicks } from '../../devices/lab/boot.ts';
import { FIRMWARE_NODE_FLAGS } from '../../loader/memory.ts';

/** The firmware's Node flags (loader/memory.ts) come first, before the snapshot and box.mjs. */
const FW = FIRMWARE_NODE_FLAGS;

test('what went wrong on the way is one line per fault, failed dial, refusal or error', (t) => {
  t.is(noteOf({ kind: 'dial', ok: false, attempt: 1, deadPath: true, error: 'no CONNACK' }), 'dial 1 (dead-path verdict): no CONNACK');
  t.is(noteOf({ kind: 'dial', ok: true, attempt: 1 }), undefined);
  t.is(noteOf({ kind: 'module', module: 'ui', action: 'fault', detail: 'watchdog' }), 'fault ui: watchdog');
  t.is(noteOf({ kind: 'module', module: 'ui', action: 'started' }), undefined);
  t.is(noteOf({ kind: 'error', message: 'start-app: Lifetime not alive' }), 'error: start-app: Lifetime not alive');
  t.is(noteOf({ kind: 'state', to: 'up' }), undefined);
});

test('the firmware runs natively, or as the arm64 Node under qemu-user with the sysroot', (t) => {
  const args = boxArgs({ profile: 'hd-dvr', boxId: 'b1', password: 'x', headend: 'mqtt://10.0.0.1:1883', carousel: 'udp://239.1.1.1:5500', stateDir: '/s' });
  t.deepEqual(args, ['--device', 'hd-dvr', '--carousel', 'udp://239.1.1.1:5500', '--id', 'b1', '--headend', 'mqtt://10.0.0.1:1883', '--state-dir', '/s']);
  t.false(args.includes('x'), 'the password goes by environment, never on the command line');
  t.deepEqual(firmwareCommand({}, ['--id', 'b1']), { cmd: process.execPath, args: [...FW, 'box.mjs', '--id', 'b1'] });
  const kit = { qemu: '/q', node: '/n', sysroot: '/r' };
  t.deepEqual(firmwareCommand({ arm64: kit }, ['--id', 'b1']), { cmd: '/q', args: ['-L', '/r', '/n', ...FW, 'box.mjs', '--id', 'b1', '--cpu-scale', '3'] });
});

test('from a snapshot, node is given the blob and box.mjs names the firmware folder', (t) => {
  const kit = { qemu: '/q', node: '/n', sysroot: '/r' };
  t.deepEqual(firmwareCommand({ arm64: kit, snapshot: '/c/box.blob' }, ['--id', 'b1']), {
    cmd: '/q',
    args: ['-L', '/r', '/n', ...FW, '--snapshot-blob', '/c/box.blob', 'box.mjs', '--id', 'b1', '--cpu-scale', '3'],
  });
  t.deepEqual(firmwareCommand({ snapshot: '/c/box.blob' }, []).args, [...FW, '--snapshot-blob', '/c/box.blob', 'box.mjs']);
});

test('the CPU of a process and of its main thread, from /proc: what a worker thread uses is not counted on the main thread', async (t) => {
  const before = procCpuMs(process.pid, true) ?? 0;
  // ~300 ms of CPU on another thread while this one waits (CPU time: the machine's load does not matter).
  const burn = `const { cpuUsage } = process; const t0 = cpuUsage(); let x = 0; while ((cpuUsage(t0).user + cpuUsage(t0).system) / 1000 < 300) x += Math.sqrt(x + 1); require('node:worker_threads').parentPort.postMessage(x);`;
  await new Promise((resolve, reject) => new Worker(burn, { eval: true }).once('message', resolve).once('error', reject));
  const main = (procCpuMs(process.pid, true) ?? 0) - before;
  const all = procCpuMs(process.pid) ?? 0;
  t.true(all >= 300, `the process used ${all} ms`);
  t.true(main < 200, `the main thread used ${main} ms of it: the worker's 300 ms are not counted`);
  t.is(procCpuMs(2 ** 22 + 7, true), undefined, 'gone');
});

test('CPU ticks from /proc/<pid>/stat, whatever the command name holds', (t) => {
  const fields = (comm: string): string => `4242 (${comm}) S 1 4242 4242 0 -1 4194560 1195 0 0 0 37 5 0 0 20 0 1 0 100 1000 200`;
  t.is(statCpuTicks(fields('node')), 42);
  t.is(statCpuTicks(fields('a) b (c')), 42, 'a name with parentheses and spaces');
  t.is(statCpuTicks('garbage'), undefined);
});
