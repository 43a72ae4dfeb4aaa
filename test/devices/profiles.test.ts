import test from 'ava';
import { ArgumentError, checkProfile } from '../../runtime/index.ts';
import { PROFILES, labLimits, profile } from '../../devices/profiles.ts';

test('the four box models are valid and distinct', (t) => {
  t.deepEqual(PROFILES.map((p) => p.id), ['legacy-sd', 'hd-dvr', 'modern-4k', 'broadcast-only']);
  t.false(profile('broadcast-only').channels.twoWay);
  t.is(profile('legacy-sd').storageBytes, 0);
  t.true(profile('legacy-sd').appMemoryBytes < profile('modern-4k').appMemoryBytes);
  t.throws(() => profile('vhs'), { message: /unknown device profile "vhs"/ });
});

test('profile checks name the bad field and refuse unknown ones', (t) => {
  const good = profile('hd-dvr');
  t.throws(() => checkProfile({ ...good, colour: 'black' }), { instanceOf: ArgumentError, message: /unknown field "colour"/ });
  t.throws(() => checkProfile({ ...good, cpuClass: 'turbo' }), { message: /cpuClass must be one of/ });
  t.throws(() => checkProfile({ ...good, channels: { ...good.channels, loss: 2 } }), { message: /channels.loss/ });
  t.throws(() => checkProfile({ ...good, appMemoryBytes: 10 }), { message: /appMemoryBytes/ });
});

test('every profile has hardware, and the lab sizes a VM and a cgroup from it', (t) => {
  for (const p of PROFILES) t.truthy(p.hardware, `${p.id} has RAM and a CPU`);
  const legacy = labLimits(profile('legacy-sd'));
  t.deepEqual(legacy, { vmMemoryMb: 128, cgroupMemoryBytes: 64 * 1024 * 1024, cpu: 'cortex-a53', cores: 1 });
  t.is(labLimits(profile('modern-4k')).vmMemoryMb, 2048);
  t.true(labLimits(profile('hd-dvr')).cgroupMemoryBytes > legacy.cgroupMemoryBytes);
  const { hardware: _, ...bare } = profile('hd-dvr');
  t.throws(() => labLimits(bare), { message: /has no hardware/ });
});

test('hardware checks name the bad field', (t) => {
  const good = profile('hd-dvr');
  const hw = good.hardware as NonNullable<typeof good.hardware>;
  t.throws(() => checkProfile({ ...good, hardware: { ...hw, ramBytes: 1024 } }), { message: /hardware.ramBytes/ });
  t.throws(() => checkProfile({ ...good, hardware: { ...hw, cpu: 'Cortex A53!' } }), { message: /hardware.cpu/ });
  t.throws(() => checkProfile({ ...good, hardware: { ...hw, cores: 0 } }), { message: /hardware.cores/ });
  t.throws(() => checkProfile({ ...good, hardware: { ...hw, gpu: 'mali' } }), { instanceOf: ArgumentError, message: /unknown field "hardware.gpu"/ });
});
