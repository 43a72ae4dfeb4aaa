// Rollout on real processes (issue 15): `weft headend up` with its carousel on a loopback port,
// `weft box run` processes, `weft app publish|promote`. A box whose return path is cut takes a
// candidate from the carousel, commits it after probation, reverts from a bad one to its cached
// last-known-good version; a head-end restarted mid-rollout puts the plan back on air, a box that
// joins then follows it and reports, and the head-end halts and rolls back on that report.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { builtAppAt } from '../_helpers/app-version.ts';
import { freeUdpPort } from '../_helpers/ports.ts';
import { WeftProc } from '../_helpers/weft-proc.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'weft-rollout-'));
const TOKEN = 'rollout-token-0123456789';
test.after.always(() => rmSync(work, { recursive: true, force: true }));

function weft(args: string[]): Promise<string> {
  return run(process.execPath, ['cli/bin.mjs', ...args], { cwd: ROOT }).then((r) => r.stdout);
}

const probation = (version: string, outcome: string) => (l: Record<string, unknown>) => l.kind === 'probation' && l.version === version && l.outcome === outcome;

/** The built guide at another version; `bad`: its ui faults on start. Signed with the build's dev key. */
const version = (v: string, bad = false): Promise<string> =>
  builtAppAt(join(work, 'apps', 'guide'), join(work, `guide-${v}`), join(work, 'keys', 'dev.jwk.json'), v, bad ? { module: 'ui', text: `\nweft.on('start', () => { throw new Error('bad build: ui faults on start'); });\n` } : undefined);

test.serial('publish -> candidate on the carousel -> a cut box commits it; a bad version reverts the cut box; a restart resumes and a reporting box halts it', async (t) => {
  await run(process.execPath, ['build.mjs', '--out', join(work, 'dist'), '--keys', join(work, 'keys'), '--no-firmware', '--quiet'], { cwd: ROOT });
  cpSync(join(work, 'dist', 'apps', 'guide'), join(work, 'apps', 'guide'), { recursive: true });
  const plan = join(work, 'plan.json');
  writeFileSync(plan, JSON.stringify({ waves: [{ percent: 100, probationS: 1, errorBudget: 0.5 }], quorum: 0.9, stallS: 3600 }));
  const slow = join(work, 'slow.json'); // a probation long enough that only failures end the wave in this test
  writeFileSync(slow, JSON.stringify({ waves: [{ percent: 100, probationS: 3600, errorBudget: 0.5 }], quorum: 0.9, stallS: 3600 }));
  const port = await freeUdpPort();
  const up = (): WeftProc => WeftProc.start(['headend', 'up', '--broker-port', '0', '--registry', `sqlite:${join(work, 'registry.db')}`, '--apps', join(work, 'apps'), '--keys', join(work, 'keys'), '--carousel', `127.0.0.1:${port}`, '--console-token', TOKEN, '--interval', '200']);
  const ready = (h: WeftProc) => h.until((l) => l.event === 'ready', 'the head-end ready line');
  let h = up();
  t.teardown(() => h.stop());
  const url = String((await ready(h)).console);
  const at = ['--headend', url, '--token', TOKEN];
  const trust = join(work, 'keys', 'dev.pub.json');
  const cut = WeftProc.start(['box', 'run', '--device', 'hd-dvr', '--id', 'box-cut', '--carousel', `udp://127.0.0.1:${port}`, '--trust', trust, '--state-dir', join(work, 'box-cut'), '--cut-return']);
  t.teardown(() => cut.stop());
  await cut.until(probation('1.0.0', 'committed'), 'the cut box commits the live 1.0.0');

  await weft(['app', 'publish', await version('1.0.1'), ...at]);
  await weft(['app', 'promote', 'guide', '1.0.1', '--plan', plan, ...at]);
  await cut.until(probation('1.0.1', 'probation'), 'the candidate 1.0.1 on probation');
  await cut.until(probation('1.0.1', 'committed'), 'the candidate 1.0.1 committed');
  // No box reported (the only one is cut): nothing failed, so the wave finishes after its probation.
  await h.until((l) => typeof l.msg === 'string' && /guide 1\.0\.1 is live/.test(l.msg), 'the head-end makes 1.0.1 live');

  await weft(['app', 'publish', await version('1.0.2', true), ...at]);
  await weft(['app', 'promote', 'guide', '1.0.2', '--plan', slow, ...at]);
  const reverted = await cut.until(probation('1.0.2', 'reverted'), 'the cut box reverts from the bad 1.0.2');
  t.is(reverted.reason, 'module-fault');
  await cut.until((l) => l.kind === 'module' && l.module === 'ui' && l.action === 'started' && cut.lines.indexOf(l) > cut.lines.indexOf(reverted), 'the ui of the last-known-good version runs again');

  await h.stop(); // mid-rollout: 1.0.2 is rolling, the cut box could not say how it went
  h = up();
  await ready(h);
  const url2 = String(h.lines.find((l) => l.event === 'ready')?.console);
  const rows = JSON.parse(await weft(['app', 'status', 'guide', '--json', '--headend', url2])) as { version: string; state: string }[];
  t.is(rows.find((r) => r.version === '1.0.2')?.state, 'rolling', 'the plan survived the restart');
  const broker = String(h.lines.find((l) => l.event === 'ready')?.broker);
  const late = WeftProc.start(['box', 'run', '--device', 'hd-dvr', '--id', 'box-late', '--carousel', `udp://127.0.0.1:${port}`, '--trust', trust, '--state-dir', join(work, 'box-late'), '--headend', broker]);
  t.teardown(() => late.stop());
  await late.until(probation('1.0.2', 'reverted'), 'a box that joins after the restart follows the plan on air and reverts');
  await late.until(probation('1.0.1', 'committed'), 'and runs the live 1.0.1');
  await h.until((l) => typeof l.msg === 'string' && /1\.0\.2 halted/.test(l.msg), 'the head-end halts 1.0.2 on the box report');
  const after = JSON.parse(await weft(['app', 'status', 'guide', '--json', '--headend', url2])) as { version: string; state: string }[];
  t.is(after.find((r) => r.version === '1.0.2')?.state, 'rolled-back');
  t.is(after.find((r) => r.version === '1.0.1')?.state, 'live');
});
