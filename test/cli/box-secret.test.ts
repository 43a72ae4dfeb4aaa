// `weft box secret <id>`: the derived password a box is provisioned with, from a key file or the
// environment; mistakes are one line without a stack. Runs the real command once each way.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { boxSecret } from '../../cli/box-secret.ts';
import { derivedBoxSecret } from '../../headend/broker/broker-auth.ts';

const CLI = new URL('../../cli/main.ts', import.meta.url).pathname;
const KEY = 'lab-master-key-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'weft-box-secret-'));
const keyFile = join(dir, 'master.key');
writeFileSync(keyFile, `${KEY}\n`);
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

function weft(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
}

test('the secret comes from --master-key, else WEFT_MASTER_KEY, else the default file', (t) => {
  const want = derivedBoxSecret(KEY, 'stb-7');
  t.deepEqual(boxSecret('stb-7', { masterKeyFile: keyFile, env: { WEFT_MASTER_KEY: 'another-key-of-16-bytes' } }), { ok: true, value: want });
  t.deepEqual(boxSecret('stb-7', { env: { WEFT_MASTER_KEY: KEY } }), { ok: true, value: want });
  t.deepEqual(boxSecret('stb-7', { env: {}, defaultFile: keyFile }), { ok: true, value: want });
});

test('mistakes are one-line reasons', (t) => {
  const cases: [string, Parameters<typeof boxSecret>[1], RegExp][] = [
    ['a/b', { env: { WEFT_MASTER_KEY: KEY } }, /bad box id "a\/b"/],
    ['node-1@headend', { env: { WEFT_MASTER_KEY: KEY } }, /node credentials never derive from the box key/],
    ['stb-7', { masterKeyFile: join(dir, 'missing.key'), env: {} }, /cannot read the master key from .*missing\.key \(ENOENT\)/],
    ['stb-7', { env: { WEFT_MASTER_KEY: 'short' } }, /at least 16/],
  ];
  for (const [id, src, re] of cases) {
    const r = boxSecret(id, src);
    t.false(r.ok, id);
    if (!r.ok) {
      t.regex(r.error, re);
      t.false(r.error.includes('\n'));
    }
  }
});

test('weft box secret prints the secret, and a one-line error with exit code 1', async (t) => {
  t.timeout(60_000);
  const [good, bad] = await Promise.all([
    weft(['box', 'secret', 'stb-7'], { WEFT_MASTER_KEY: KEY }),
    weft(['box', 'secret', 'stb-7', '--master-key', join(dir, 'nowhere.key')], {}),
  ]);
  t.deepEqual(good, { code: 0, out: `${derivedBoxSecret(KEY, 'stb-7')}\n`, err: '' });
  t.is(bad.code, 1);
  t.is(bad.out, '');
  t.regex(bad.err, /^weft box secret: cannot read the master key from .*nowhere\.key \(ENOENT\).*\n$/);
  t.is(bad.err.split('\n').length, 2, 'one line');
});
