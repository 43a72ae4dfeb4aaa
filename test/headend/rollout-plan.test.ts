// Rollout plans: validation by field, stable wave membership, and the wave decision from counts.
import test from 'ava';
import fc from 'fast-check';
import { cohort01 } from '../../runtime/app/index.ts';
import { DEFAULT_PLAN, decideWave, parsePlan, waveOf } from '../../headend/releases/plan.ts';

test('plans are validated field by field', (t) => {
  t.deepEqual(parsePlan({ waves: [{ percent: 10, probationS: 60, errorBudget: 0.1 }, { percent: 100, probationS: 60, errorBudget: 0.05 }] }).quorum, 0.9);
  t.throws(() => parsePlan({ waves: [{ percent: 50, probationS: 1, errorBudget: 0 }] }), { message: /last wave must reach 100/ });
  t.throws(() => parsePlan({ waves: [{ percent: 50, probationS: 1, errorBudget: 0 }, { percent: 40, probationS: 1, errorBudget: 0 }] }), { message: /waves\[1\]\.percent: waves are cumulative/ });
  t.throws(() => parsePlan({ waves: [{ percent: 100, probationS: 1, errorBudget: 2 }] }), { message: /waves\[0\]\.errorBudget: a number in 0\.\.1/ });
  t.throws(() => parsePlan({ waves: [{ percent: 100, probationS: 1, errorBudget: 0 }], rush: true }), { message: /plan\.rush: unknown key/ });
});

test('a box stays in its wave: cohorts are stable and waves cumulative', (t) => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 40 }), (box) => {
      const c = cohort01(box, 'guide');
      t.true(c >= 0 && c < 1);
      t.is(cohort01(box, 'guide'), c);
      const w = waveOf(DEFAULT_PLAN, c);
      t.not(w, undefined);
      t.true((w as number) === 0 || c * 100 >= (DEFAULT_PLAN.waves[(w as number) - 1]?.percent ?? 0));
    }),
  );
  // Over many boxes the first wave takes about its share.
  const first = Array.from({ length: 10_000 }, (_, i) => waveOf(DEFAULT_PLAN, cohort01(`box-${i}`, 'guide'))).filter((w) => w === 0).length;
  t.true(first > 60 && first < 140, `${first} of 10000 in the 1% wave`);
  t.is(waveOf({ ...DEFAULT_PLAN, profiles: ['hd-dvr'] }, 0.001, 'legacy-sd'), undefined);
});

test('the wave decision: budget halts at once, quorum promotes after probation, silence stalls', (t) => {
  const plan = parsePlan({ waves: [{ percent: 10, probationS: 60, errorBudget: 0.1 }, { percent: 100, probationS: 60, errorBudget: 0.1 }], quorum: 0.9, stallS: 120 });
  t.like(decideWave(plan, 0, { assigned: 100, succeeded: 0, failed: 11 }, 5), { kind: 'halt', reason: 'error-budget' });
  t.like(decideWave(plan, 0, { assigned: 100, succeeded: 95, failed: 1 }, 30), { kind: 'wait' }, 'probation first');
  t.like(decideWave(plan, 0, { assigned: 100, succeeded: 95, failed: 1 }, 60), { kind: 'promote' });
  t.like(decideWave(plan, 1, { assigned: 1000, succeeded: 950, failed: 2 }, 60), { kind: 'done' });
  // 30 cut boxes never report: not failures, but no quorum either.
  t.like(decideWave(plan, 0, { assigned: 100, succeeded: 70, failed: 0 }, 100), { kind: 'wait' });
  t.like(decideWave(plan, 0, { assigned: 100, succeeded: 70, failed: 0 }, 180), { kind: 'halt', reason: 'stalled' });
});
