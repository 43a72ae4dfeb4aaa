// The signed rollout directive (issue 15): its bytes round-trip, anything else is refused as a
// value, and the box's pick of a version agrees with the head-end's waves (same cohort).
import test from 'ava';
import fc from 'fast-check';
import { cohort01, encodeRollout, parseRollout, rolloutTarget, utf8, type RolloutDirective } from '../../runtime/app/index.ts';
import { waveOf, type Plan } from '../../headend/releases/index.ts';

const base: RolloutDirective = { kind: 'weft-rollout', app: 'guide', seq: 7, live: '1.0.0', probationS: 30, state: 'rolling', candidate: { version: '1.0.1', percent: 10 } };

test('a directive round-trips; unknown keys, bad versions and oversized bytes are refused', (t) => {
  t.deepEqual(parseRollout(encodeRollout(base)), base);
  const withGroups = { ...base, candidate: { version: '1.0.1', percent: 10, profiles: ['hd-dvr'], groups: ['lab'] } };
  t.deepEqual(parseRollout(encodeRollout(withGroups)), withGroups);
  t.is(parseRollout(utf8(JSON.stringify({ ...base, extra: 1 }))), undefined);
  t.is(parseRollout(utf8(JSON.stringify({ ...base, live: '1.0' }))), undefined);
  t.is(parseRollout(utf8(JSON.stringify({ ...base, seq: 0 }))), undefined);
  t.is(parseRollout(utf8(JSON.stringify({ ...base, candidate: { version: '1.0.1', percent: 101 } }))), undefined);
  t.is(parseRollout(new Uint8Array(5000).fill(32)), undefined);
  t.throws(() => encodeRollout({ ...base, state: 'gone' as never }), { instanceOf: RangeError });
});

test('random bytes never throw: a directive or undefined', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => parseRollout(b) === undefined || parseRollout(b)?.kind === 'weft-rollout'));
  t.pass();
});

test('the box picks the candidate exactly when the head-end counts it in the wave (same cohort); profiles, groups and rollback', (t) => {
  const plan: Plan = { waves: [{ percent: 10, probationS: 1, errorBudget: 0 }, { percent: 100, probationS: 1, errorBudget: 0 }], quorum: 0.9, stallS: 1 };
  let inWave = 0;
  for (let i = 0; i < 500; i++) {
    const boxId = `box-${i}`;
    const pick = rolloutTarget(base, { boxId, profile: 'hd-dvr' });
    t.is(pick.candidate, waveOf(plan, cohort01(boxId, 'guide'), 'hd-dvr') === 0, boxId);
    t.is(pick.version, pick.candidate ? '1.0.1' : '1.0.0');
    if (pick.candidate) inWave++;
  }
  t.true(inWave > 20 && inWave < 100, `roughly 10% of 500 boxes (the cohort hash is not perfectly even): ${inWave}`);
  const onlyDvr: RolloutDirective = { ...base, candidate: { version: '1.0.1', percent: 100, profiles: ['hd-dvr'] } };
  t.false(rolloutTarget(onlyDvr, { boxId: 'box-1', profile: 'legacy-sd' }).candidate);
  t.true(rolloutTarget(onlyDvr, { boxId: 'box-1', profile: 'hd-dvr' }).candidate);
  const group: RolloutDirective = { ...base, candidate: { version: '1.0.1', percent: 0, groups: ['lab'] } };
  t.true(rolloutTarget(group, { boxId: 'box-1', groups: ['lab'] }).candidate);
  t.false(rolloutTarget(group, { boxId: 'box-1' }).candidate);
  t.deepEqual(rolloutTarget({ ...base, state: 'rolled-back', candidate: { version: '1.0.1', percent: 100 } }, { boxId: 'box-1' }), { version: '1.0.0', candidate: false });
});

test('cohorts of short, sequential fleet ids spread evenly: every tenth of [0, 1) gets its share', (t) => {
  // `f0-1`..`f3-250` (bench/rollout.ts, devices/fleet.ts): plain FNV-1a left their high bits clustered.
  const ids = Array.from({ length: 4 }, (_, p) => Array.from({ length: 250 }, (_, i) => `f${p}-${i + 1}`)).flat();
  const bins = new Array<number>(10).fill(0);
  for (const id of ids) bins[Math.floor(cohort01(id, 'guide') * 10)]!++;
  t.true(bins.every((n) => n >= 60 && n <= 140), `boxes per tenth: ${bins.join(', ')}`);
});
