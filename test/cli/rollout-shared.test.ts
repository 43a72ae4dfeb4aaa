// App-wide modules during a rollout, on real processes (issue 15.6, scope: app): `weft headend up`
// serving the poll, `weft box run` boxes voting through its app-wide `tally`. A candidate whose
// tally code changed runs its own tally beside the live one: a box of the plan's profile votes
// into the candidate's, a box outside it into the live one's, each seeing only its version's
// counts; rolled back, the box is counted by the live tally again and the candidate's stops.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { pollWithNewTally } from '../_helpers/poll-versions.ts';
import { freeUdpPort } from '../_helpers/ports.ts';
import { WeftProc } from '../_helpers/weft-proc.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'weft-rollout-shared-'));
const TOKEN = 'rollout-shared-token-0123456789';
test.after.always(() => rmSync(work, { recursive: true, force: true }));

const weft = (args: string[]): Promise<string> => run(process.execPath, ['cli/bin.mjs', ...args], { cwd: ROOT }).then((r) => r.stdout);
type Scene = { options: { votes: number }[]; acked: number; sent: number };
const scene = (l: Record<string, unknown>): Scene | undefined => (l.kind === 'scene' && (l.scene as { screen?: unknown }).screen === 'poll' ? (l.scene as Scene) : undefined);
const votes = (l: Record<string, unknown>): number[] => scene(l)?.options.map((o) => o.votes) ?? [];
/** A poll scene once at least one vote for `option` is counted. Each box presses its key three
 *  times: a loaded box may restart its ui (its key queue with it), so the counts are compared, not fixed. */
const counted = (option: number) => (l: Record<string, unknown>) => (scene(l)?.acked ?? 0) >= 1 && (votes(l)[option] ?? 0) >= 1;
const headendSays = (re: RegExp) => (l: Record<string, unknown>) => typeof l.msg === 'string' && re.test(l.msg);

test.serial('a candidate with a new tally counts its boxes in its own instance beside the live one; rolled back, its instance stops', async (t) => {
  t.timeout(240_000); // a build, a head-end and three boxes on a shared machine
  await run(process.execPath, ['build.mjs', '--out', join(work, 'dist'), '--keys', join(work, 'keys'), '--no-firmware', '--quiet'], { cwd: ROOT });
  cpSync(join(work, 'dist', 'apps', 'poll'), join(work, 'apps', 'poll'), { recursive: true });
  const plan = join(work, 'plan.json'); // only hd-dvr boxes take the candidate; probation long enough that it stays rolling
  writeFileSync(plan, JSON.stringify({ waves: [{ percent: 100, probationS: 3600, errorBudget: 0.5 }], quorum: 0.9, stallS: 3600, profiles: ['hd-dvr'] }));
  const port = await freeUdpPort();
  const h = WeftProc.start(['headend', 'up', '--broker-port', '0', '--registry', `sqlite:${join(work, 'registry.db')}`, '--apps', join(work, 'apps'), '--keys', join(work, 'keys'), '--carousel', `127.0.0.1:${port}`, '--console-token', TOKEN, '--interval', '200']);
  t.teardown(() => h.stop());
  const ready = await h.until((l) => l.event === 'ready', 'the head-end ready line');
  const at = ['--headend', String(ready.console), '--token', TOKEN];
  const box = (id: string, device: string, key: string): WeftProc => {
    const b = WeftProc.start(['box', 'run', '--device', device, '--id', id, '--carousel', `udp://127.0.0.1:${port}`, '--trust', join(work, 'keys', 'dev.pub.json'), '--state-dir', join(work, id), '--headend', String(ready.broker), '--keys', `${key},${key},${key}`, '--key-gap', '700']);
    t.teardown(() => b.stop());
    return b;
  };

  const a = box('box-a', 'legacy-sd', '1');
  await a.until(counted(0), 'box-a\'s votes counted by the live tally');

  await weft(['app', 'publish', await pollWithNewTally(join(work, 'apps', 'poll'), join(work, 'poll-1.0.1'), join(work, 'keys', 'dev.jwk.json'), '1.0.1'), ...at]);
  await weft(['app', 'promote', 'poll', '1.0.1', '--plan', plan, ...at]);
  const b = box('box-b', 'hd-dvr', '3');
  await b.until((l) => l.kind === 'probation' && l.version === '1.0.1', 'box-b runs the candidate');
  const onCandidate = votes(await b.until(counted(2), 'box-b\'s vote counted'));
  t.is(onCandidate[0], 0, `box-b's votes are counted by the candidate's own tally, which never saw 1.0.0's (${JSON.stringify(onCandidate)})`);
  await h.until(headendSays(/app-wide poll 1\.0\.1 .*tally runs here/), 'the candidate\'s tally started beside the live one');

  const c = box('box-c', 'legacy-sd', '2');
  const onLive = votes(await c.until(counted(1), 'box-c\'s vote counted'));
  t.true((onLive[0] ?? 0) >= 1 && onLive[2] === 0, `box-c (not in the plan) votes into the live tally, which never saw box-b's votes (${JSON.stringify(onLive)})`);

  const from = b.lines.length;
  await weft(['app', 'rollback', 'poll', '1.0.1', ...at]);
  // The rolled-back ui's first reading, before any vote of its own (a fresh ui: nothing sent).
  const back = votes(await b.until((l) => scene(l)?.sent === 0 && (votes(l)[0] ?? 0) >= 1, 'box-b, rolled back, reads the live tally', 60_000, from));
  t.is(back[2], 0, `the live tally never counted box-b's candidate votes (${JSON.stringify(back)})`);
  await h.until(headendSays(/app-wide poll \(c[0-9a-f]+\): no session is pinned to it; stopped/), 'the candidate\'s tally stops once no session is pinned to it');
});
