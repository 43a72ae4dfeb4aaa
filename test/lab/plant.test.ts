// The plant: a head-end and three boxes in network namespaces, the carousel on a multicast group.
// A box booting with its return path cut falls back to the carousel tiers and comes up once the
// path returns; a box with 20% carousel loss still boots; the plant removes every namespace it
// made, also when aborted (Ctrl-C). Needs root, ip and nft: skips without, fails under
// WEFT_REQUIRE_ALL=1.
import test, { type ExecutionContext } from 'ava';
import { leftoverNamespaces } from '../../devices/lab/netns.ts';
import { checkPlantOptions, kindOf, Plant } from '../../devices/lab/plant.ts';
import { needProgram, requireAll } from '../_helpers/env.ts';

function needRoot(t: ExecutionContext): boolean {
  if (process.getuid?.() === 0) return true;
  if (requireAll) t.fail('the plant needs root (network namespaces): WEFT_REQUIRE_ALL=1 makes this a failure');
  else {
    t.log('SKIPPED: the plant needs root (network namespaces, nft)');
    t.pass();
  }
  return false;
}

const ready = (t: ExecutionContext): boolean =>
  needRoot(t) && needProgram(t, 'ip', 'network namespaces (iproute2)') !== undefined && needProgram(t, 'nft', 'faults (nftables)') !== undefined;

test.serial('cut, fallback and recovery over a multicast carousel, and nothing left behind', async (t) => {
  t.timeout(150_000, "three boxes boot, a path returns, a cut waits for its detection");
  if (!ready(t)) return;
  const log: string[] = [];
  const plant = new Plant({ boxes: 3, profile: 'hd-dvr', arm64: false, lossPercent: 20, install: false, stepTimeoutMs: 30_000, log: (l) => log.push(l) });
  const r = await plant.run();
  t.log(log.join('\n'));
  const [b0, b1, b2] = r.boxes;
  if (b0 === undefined || b1 === undefined || b2 === undefined) return t.fail('three boxes');
  t.is(b0.bootState, 'up', 'the carousel reached a box in another namespace by multicast, and its broker by DNAT');
  t.is(b2.bootState, 'up', `a box with 20% carousel loss boots: ${b2.path.join('>')}`);
  t.is(b1.bootState, 'degraded');
  t.true(b1.path.includes('acquiring-fallback-1') && b1.path.includes('acquiring-fallback-2'), `cut from boot, it falls back twice: ${b1.path.join('>')}`);
  t.not(b1.recoverMs, undefined, `back up once its return path returns: ${r.findings.join('; ')}`);
  if (b0.detectMs === undefined) t.log(`FINDING: a cut on a box that is up was not noticed within 30 s: ${r.findings.join('; ')}`);
  else t.log(`cut detected in ${b0.detectMs} ms, recovered in ${b0.recoverMs ?? '-'} ms; box 1 recovered in ${b1.recoverMs} ms`);
  const left = await leftoverNamespaces();
  t.deepEqual(plant.namespaces.filter((n) => left.includes(n)), [], 'every namespace it made is gone');
});

test.serial('an arm64 box under qemu-user in a box namespace: its cut is noticed and it comes back', async (t) => {
  t.timeout(150_000, 'a TCG boot on two shared cores, a detection and a recovery');
  if (!ready(t)) return;
  if (needProgram(t, 'qemu-aarch64-static', 'the arm64 box runs under qemu-user (Debian qemu-user-static)') === undefined) return;
  const log: string[] = [];
  // One box: box 0 is both the arm64 box and the one cut once up.
  const plant = new Plant({ boxes: 1, profile: 'hd-dvr', arm64: true, lossPercent: 0, install: false, stepTimeoutMs: 40_000, log: (l) => log.push(l) });
  const r = await plant.run();
  t.log(log.join('\n'));
  const [b] = r.boxes;
  if (b === undefined) return t.fail('one box');
  t.true(b.arm64);
  t.is(b.bootState, 'up', `the arm64 box booted over the multicast carousel: ${b.path.join('>')}; ${r.findings.join('; ')}`);
  t.not(b.detectMs, undefined, `its cut was noticed: ${r.findings.join('; ')}`);
  t.not(b.recoverMs, undefined, `it came back once the path returned: ${r.findings.join('; ')}`);
  t.log(`arm64 box: up in ${b.bootMs} ms, cut detected in ${b.detectMs} ms, recovered in ${b.recoverMs} ms`);
  const left = await leftoverNamespaces();
  t.deepEqual(plant.namespaces.filter((n) => left.includes(n)), [], 'every namespace it made is gone');
});

test.serial('an aborted plant (Ctrl-C) removes what it made', async (t) => {
  if (!ready(t)) return;
  const plant: Plant = new Plant({ boxes: 2, profile: 'hd-dvr', arm64: false, lossPercent: 20, install: false, stepTimeoutMs: 20_000, log: (l) => (l.includes('box(es) of') ? plant.abort() : undefined) });
  const made = plant.namespaces;
  await t.throwsAsync(plant.run(), { message: /aborted|ended/ });
  const left = await leftoverNamespaces();
  t.deepEqual(made.filter((n) => left.includes(n)), []);
});

test('which box runs how: the VM is the last box, the arm64 box the last other one', (t) => {
  const kinds = (o: { boxes: number; arm64: boolean; vm?: boolean }): string[] => Array.from({ length: o.boxes }, (_, i) => kindOf(o, i));
  t.deepEqual(kinds({ boxes: 3, arm64: false }), ['native', 'native', 'native']);
  t.deepEqual(kinds({ boxes: 3, arm64: true }), ['native', 'native', 'arm64']);
  t.deepEqual(kinds({ boxes: 3, arm64: false, vm: true }), ['native', 'native', 'vm']);
  t.deepEqual(kinds({ boxes: 4, arm64: true, vm: true }), ['native', 'native', 'arm64', 'vm']);
  t.deepEqual(kinds({ boxes: 1, arm64: false, vm: true }), ['vm']);
  t.throws(() => checkPlantOptions({ boxes: 1, profile: 'hd-dvr', arm64: true, vm: true, lossPercent: 0, install: false, stepTimeoutMs: 10_000, log: () => {} }), { message: /--boxes 2 or more/ });
});

test.serial('a VM box on a tap in the plant\'s bridge: the carousel reaches it by multicast, its cut is noticed and it comes back', async (t) => {
  t.timeout(300_000, 'a VM boot under TCG on two shared cores (and its snapshot made under qemu-user when not cached), a detection and a recovery');
  if (!ready(t)) return;
  if (needProgram(t, 'qemu-system-aarch64', 'the VM box (Debian qemu-system-arm)') === undefined) return;
  if (needProgram(t, 'qemu-aarch64-static', 'the VM\'s snapshot is made under qemu-user (Debian qemu-user-static)') === undefined) return;
  const log: string[] = [];
  // One box: box 0 is the VM and the one cut once up.
  const plant = new Plant({ boxes: 1, profile: 'hd-dvr', arm64: false, vm: true, lossPercent: 0, install: false, stepTimeoutMs: 60_000, log: (l) => log.push(l) });
  const r = await plant.run();
  t.log(log.join('\n'));
  const [b] = r.boxes;
  if (b === undefined) return t.fail('one box');
  t.true(b.vm && b.arm64, 'an arm64 VM');
  t.is(b.bootState, 'up', `the VM booted over the multicast carousel on the plant's bridge: ${b.path.join('>')}; ${r.findings.join('; ')}`);
  t.not(b.detectMs, undefined, `its cut (in its namespace's bridge) was noticed: ${r.findings.join('; ')}`);
  t.not(b.recoverMs, undefined, `it came back once the path returned: ${r.findings.join('; ')}`);
  t.log(`VM box: up in ${b.bootMs} ms from power-on, cut detected in ${b.detectMs} ms, recovered in ${b.recoverMs} ms`);
  const left = await leftoverNamespaces();
  t.deepEqual(plant.namespaces.filter((n) => left.includes(n)), [], 'every namespace it made is gone');
});
