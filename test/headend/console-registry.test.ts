// A registry adapter that counts its own trouble (the Redis Cluster adapter's waitShort, failed,
// resets) shows on the console and in /metrics as registry_<name>; the failures in the error panel.
import test from 'ava';
import { nodeSource } from '../../headend/console/index.ts';
import { MIXED_APP, signedApp } from '../_helpers/apps.ts';
import { memoryRegistry, testNode } from '../_helpers/headend.ts';

test('registry stats are console counters; a WAIT shortfall and failed calls are error counters', async (t) => {
  const { pub, trusted } = await signedApp('mix', MIXED_APP);
  const registry = Object.assign(memoryRegistry(), { stats: { waitShort: 2, failed: 1, resets: 3, note: 'not a number' } });
  const n1 = await testNode({ id: 'n1', registry, apps: [pub], trusted });
  t.teardown(async () => {
    await n1.close();
    await registry.close();
  });
  const snap = nodeSource(n1).snapshot();
  t.like(snap.counters, { registry_wait_short: 2, registry_failed: 1, registry_resets: 3 });
  t.false('registry_note' in snap.counters);
  t.true(snap.errorCounters.includes('registry_wait_short') && snap.errorCounters.includes('registry_failed'));
  t.false(snap.errorCounters.includes('registry_resets'), 'a reset is not a failure');
});
