import test from 'ava';
import { ArgumentError, checkProfile } from '../../runtime/index.ts';
import { PROFILES, profile } from '../../devices/profiles.ts';

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
