// A box inside a memory cgroup: the firmware boots natively to `up` within the cgroup limit the
// lab derives from its profile (legacy-sd: half of 128 MiB), and is OOM-killed in 12 MiB (20 MiB
// is enough since wasm stays on Liftoff: docs/LAB.md); the groups are removed afterwards. Needs
// root and a memory cgroup: skips without, fails under WEFT_REQUIRE_ALL=1.
import { readdirSync } from 'node:fs';
import test from 'ava';
import { cgroupMemoryKind } from '../../devices/lab/cgroup.ts';
import { probeCgroup } from '../../devices/lab/footprint.ts';
import { withStage } from '../../devices/lab/stage.ts';
import { labLimits, profile } from '../../devices/profiles.ts';
import { requireAll } from '../_helpers/env.ts';

/** Below the firmware's floor (16 MiB was killed, 20 booted; its anonymous memory at `up` is ~14 MB). */
const STARVED_MB = 12;

test('the firmware boots in its profile\'s cgroup limit and is killed in far less', async (t) => {
  t.timeout(90_000);
  const kind = cgroupMemoryKind();
  if (kind === undefined) {
    if (requireAll) t.fail('no memory cgroup (needs root and the memory controller): WEFT_REQUIRE_ALL=1 makes this a failure');
    else t.log('SKIPPED: no memory cgroup here (needs root and the memory controller)');
    t.pass();
    return;
  }
  const limitMb = labLimits(profile('legacy-sd')).cgroupMemoryBytes / 2 ** 20;
  t.is(limitMb, 64);
  const [fits, starved] = await withStage(async (s) => [await probeCgroup(s, 'legacy-sd', limitMb, 45_000), await probeCgroup(s, 'legacy-sd', STARVED_MB, 45_000)]);
  t.true(fits?.ok, `legacy-sd in ${limitMb} MiB: ${fits?.detail}`);
  t.false(starved?.ok, `legacy-sd in ${STARVED_MB} MiB: ${starved?.detail}`);
  t.regex(starved?.detail ?? '', /OOM-killed|exited|ended/);
  const root = kind === 'v2' ? '/sys/fs/cgroup' : '/sys/fs/cgroup/memory';
  t.deepEqual(readdirSync(root).filter((d) => d.startsWith('weftlab-')), [], 'the groups are gone');
});
