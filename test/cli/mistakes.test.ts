// User mistakes at the `weft` command end in one line (what, why, what to do) and a non-zero
// exit, never a Node stack trace; `--debug` adds the stack. Real processes, as a user types them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { runWeft as weft } from '../_helpers/weft-proc.ts';

const unsigned = mkdtempSync(join(tmpdir(), 'weft-unsigned-'));
mkdirSync(join(unsigned, 'app'));
writeFileSync(join(unsigned, 'app', 'manifest.json'), '{}');
test.after.always(() => rmSync(unsigned, { recursive: true, force: true }));

const mistakes: [string, string[], RegExp][] = [
  ['unknown device profile', ['box', 'run', '--device', 'nope', '--seconds', '1'], /unknown device profile "nope".*known: legacy-sd/],
  ['unknown profile in a fleet mix', ['fleet', 'run', '--count', '2', '--mix', 'foo:1', '--seconds', '1'], /unknown device profile "foo"/],
  ['a count that is not a number', ['fleet', 'run', '--count', 'x'], /--count.*'x' is invalid/],
  ['an unknown box event kind to print', ['fleet', 'run', '--count', '1', '--events', 'probation,scenes'], /--events: unknown kind "scenes".*probation/],
  ['demo seconds that are not a number', ['demo', '--seconds', 'abc'], /--seconds.*'abc' is invalid/],
  ['a head-end interval that is not a number', ['headend', 'up', '--interval', 'abc'], /--interval.*'abc' is invalid/],
  ['an unsigned app at headend up', ['headend', 'up', '--apps', unsigned, '--broker-port', '0', '--registry', 'memory'], /manifest\.sig.*npm run build/],
  ['an unknown option', ['box', 'run', '--device', 'legacy-sd', '--colour', 'red'], /unknown option '--colour'/],
  ['a carousel TTL out of range', ['headend', 'up', '--ttl', '300'], /--ttl.*'300' is invalid.*between 0 and 255/],
  ['a carousel TTL that is not a number', ['headend', 'node', '--broker', 'mqtt://127.0.0.1:1', '--ttl', 'x'], /--ttl.*'x' is invalid/],
  ['an interface that is a name, not an address', ['headend', 'up', '--interface', 'eth0'], /--interface.*'eth0' is invalid.*not an IP address/],
  ['a box interface that is not an address', ['box', 'run', '--device', 'legacy-sd', '--interface', 'lan'], /--interface.*'lan' is invalid/],
  ['a broker host that is not an address', ['headend', 'up', '--host', 'my box'], /--host.*is invalid.*not an IP address/],
  ['a trace rate over 1', ['box', 'run', '--device', 'legacy-sd', '--trace-rate', '5'], /--trace-rate.*'5' is invalid.*0\.\.1/],
  ['a drain without an operator token', ['headend', 'drain', 'node-2', '--headend', 'http://127.0.0.1:9/'], /no operator token.*--token or WEFT_CONSOLE_TOKEN/],
  ['a drain aimed at the MQTT broker', ['headend', 'drain', 'node-2', '--headend', 'mqtt://127.0.0.1:1883', '--token', 'x'], /--headend: mqtt: is not http: or https:/],
];

for (const [what, args, message] of mistakes) {
  test(`${what}: one line, exit 2, no stack`, async (t) => {
    const r = await weft(args);
    t.is(r.code, 2, r.err);
    const lines = r.err.trim().split('\n');
    t.is(lines.length, 1, r.err);
    t.regex(r.err, message);
    t.notRegex(r.err, /\n\s+at /);
  });
}

test('--debug adds the stack to the same line', async (t) => {
  const r = await weft(['--debug', 'headend', 'up', '--apps', unsigned, '--broker-port', '0', '--registry', 'memory']);
  t.is(r.code, 2);
  t.regex(r.err, /^weft: file not found: .*manifest\.sig/);
  t.regex(r.err, /\n\s+at /);
});

test('--version prints the package version', async (t) => {
  const r = await weft(['--version']);
  t.is(r.code, 0);
  t.regex(r.out.trim(), /^\d+\.\d+\.\d+$/);
});
