// `weft app` against a real `weft headend up`: publish a new version of the built guide, promote
// it, see the head-end serve it, restart the head-end and find it still live; mistakes are one line.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { builtAppAt } from '../_helpers/app-version.ts';
import { WeftProc } from '../_helpers/weft-proc.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'weft-app-cli-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));

function weft(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return run(process.execPath, ['cli/bin.mjs', ...args], { cwd: ROOT }).then(
    (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }),
  );
}

const TOKEN = 'app-cli-token-0123456789';

/** `weft headend up` on the built apps; `url`: its console, from its ready line. */
async function headendUp(): Promise<{ proc: WeftProc; url: string; token: string }> {
  const proc = WeftProc.start(['headend', 'up', '--broker-port', '0', '--registry', `sqlite:${join(work, 'registry.db')}`, '--apps', join(work, 'dist', 'apps'), '--keys', join(work, 'keys'), '--console-token', TOKEN]);
  const ready = await proc.until((l) => l.event === 'ready' && l.console !== undefined, 'the head-end ready line');
  return { proc, url: String(ready.console), token: TOKEN };
}

test.serial('publish, promote and restart: the new version stays live', async (t) => {
  await run(process.execPath, ['build.mjs', '--out', join(work, 'dist'), '--keys', join(work, 'keys'), '--no-firmware', '--quiet'], { cwd: ROOT });
  // v1.0.1 of the guide: the same modules, the manifest re-signed with the dev key.
  const v2 = await builtAppAt(join(work, 'dist', 'apps', 'guide'), join(work, 'guide-1.0.1'), join(work, 'keys', 'dev.jwk.json'), '1.0.1');

  const h = await headendUp();
  const at = ['--headend', h.url, '--token', h.token];
  t.regex((await weft(['app', 'list', ...at])).out, /guide\s+1\.0\.0\s+live/);
  t.regex((await weft(['app', 'publish', v2, ...at])).out, /published guide 1\.0\.1: staged/);
  t.regex((await weft(['app', 'promote', 'guide', '1.0.1', '--now', ...at])).out, /guide 1\.0\.1: live/);
  await h.proc.stop();

  const again = await headendUp();
  t.teardown(() => again.proc.stop());
  const status = await weft(['app', 'status', 'guide', '--json', '--headend', again.url]);
  t.deepEqual((JSON.parse(status.out) as { version: string; state: string }[]).map((r) => [r.version, r.state]), [['1.0.0', 'retired'], ['1.0.1', 'live']]);
  const lines = again.proc.lines.map((l) => JSON.stringify(l));
  t.true(lines.some((l) => l.includes('serving guide 1.0.1')), lines.join('\n'));
});

test('mistakes: no token, a broker URL instead of the console, a folder that is not a built app', async (t) => {
  const noToken = await weft(['app', 'promote', 'guide', '1.0.0', '--headend', 'http://127.0.0.1:1/']);
  t.is(noToken.code, 2);
  t.regex(noToken.err, /^weft: no operator token; give --token or WEFT_CONSOLE_TOKEN/);
  const broker = await weft(['app', 'list', '--headend', 'mqtt://127.0.0.1:1883']);
  t.regex(broker.err, /^weft: --headend: mqtt: is not http: or https:/);
  const folder = await weft(['app', 'publish', work, '--headend', 'http://127.0.0.1:1/', '--token', 'x']);
  t.regex(folder.err, /manifest\.json is missing; publish a built app folder/);
  for (const r of [noToken, broker, folder]) t.is(r.err.trim().split('\n').length, 1);
});
