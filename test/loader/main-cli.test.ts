// The firmware's command line (loader/main.ts, what dist/firmware/box.mjs runs): --help answers
// with the flags of `weft box run`, a mistake is one line naming --help, a secret that starts with
// "-" works as --password=.
import { spawn } from 'node:child_process';
import test from 'ava';
import { HELP, HELP_ASKED, emulatedDeadPath, parseBoxArgs } from '../../loader/main.ts';
import { DEAD_PATH_MARGIN_MS } from '../../loader/dialer-mqtt.ts';

const MAIN = new URL('../../loader/main.ts', import.meta.url).pathname;

function box(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => resolve({ code, out, err }));
  });
}

test('--help prints every flag weft box run has, and exits 0', async (t) => {
  const r = await box(['--help']);
  t.is(r.code, 0);
  t.is(r.out, `${HELP}\n`);
  for (const flag of ['--device', '--headend', '--carousel', '--id', '--password', '--trust', '--state-dir', '--exit-on', '--interface', '--trace-rate']) t.true(r.out.includes(`  ${flag} `), flag);
});

test('an unknown option is one line that points at --help, exit 2', async (t) => {
  const r = await box(['--device', 'legacy-sd', '--colour', 'red']);
  t.is(r.code, 2);
  t.regex(r.err, /^box: Unknown option '--colour'.*; box --help lists the flags\n$/);
});

test('--cpu-scale: a number in 1..100, default 1 (an emulated box stretches its deadlines by it)', (t) => {
  const a = parseBoxArgs(['--device', 'legacy-sd', '--cpu-scale', '3'], {});
  t.is(a !== HELP_ASKED ? a.cpuScale : undefined, 3);
  const d = parseBoxArgs(['--device', 'legacy-sd'], {});
  t.is(d !== HELP_ASKED ? d.cpuScale : undefined, 1);
  for (const bad of ['0', '101', 'fast', '']) t.throws(() => parseBoxArgs(['--device', 'legacy-sd', '--cpu-scale', bad], {}), { message: /--cpu-scale must be a number in 1\.\.100/ });
});

test('a password that starts with "-" is taken whole with --password=', (t) => {
  const a = parseBoxArgs(['--device', 'legacy-sd', '--password=-x9Zq'], {});
  t.not(a, HELP_ASKED);
  t.is(a !== HELP_ASKED ? a.password : undefined, '-x9Zq');
});

test('--interface and --trace-rate mean what they mean on weft box run; bad values are refused by name', (t) => {
  const a = parseBoxArgs(['--device', 'legacy-sd', '--interface', '192.168.7.2', '--trace-rate', '0.25'], {});
  t.like(a, { interface: '192.168.7.2', traceRate: 0.25 });
  t.like(parseBoxArgs(['--device', 'legacy-sd'], { WEFT_TRACE_RATE: '1' }), { traceRate: 1 });
  t.like(parseBoxArgs(['--device', 'legacy-sd'], {}), { traceRate: 0, interface: undefined });
  t.throws(() => parseBoxArgs(['--device', 'legacy-sd', '--interface', 'eth0'], {}), { message: /--interface must be an IP address/ });
  t.throws(() => parseBoxArgs(['--device', 'legacy-sd', '--trace-rate', '2'], {}), { message: /--trace-rate must be a number in 0\.\.1/ });
  t.throws(() => parseBoxArgs(['--device', 'legacy-sd', '--trace-rate', 'x'], {}), { message: /--trace-rate/ });
});

test('--cpu-scale stretches the dead-path margin (the local work beside the RTT) by the scale; a native box keeps 3 RTT + 50 ms', (t) => {
  const a = parseBoxArgs(['--device', 'legacy-sd', '--cpu-scale', '3']);
  if (a === HELP_ASKED) return t.fail();
  t.deepEqual(emulatedDeadPath(a.cpuScale), { deadPath: { marginMs: 3 * DEAD_PATH_MARGIN_MS } });
  t.deepEqual(emulatedDeadPath(1), {});
});
