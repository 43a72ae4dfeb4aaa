// [issue 15] The carousel changes around the version a box verified (a new rollout directive,
// another box's wave): the box does not verify that same manifest and its modules again. In the
// rollout bench every box of a fleet process re-ran the checks on each change, on one loop, ahead
// of the boxes the wave selected. Counted: signature checks through the trusted key's hook.
import test from 'ava';
import { Acquirer, type AcquireEvent } from '../../loader/acquire.ts';
import { makeModule, type ModuleSet } from '../../carousel/index.ts';
import { utf8, verifySignature, type TrustedKey } from '../../runtime/app/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { carouselFeed } from '../_helpers/box-fixtures.ts';

const keys = await signer();
const v1 = await guideApp(keys, { version: '1.0.0' });

/** An Acquirer on a carousel, its signature checks counted, its events waited on by kind. */
async function acquirer(t: import('ava').ExecutionContext, set: ModuleSet) {
  const feed = carouselFeed(set);
  const key = keys.trusted[0] as TrustedKey;
  const counted = { checks: 0 };
  const trusted: TrustedKey = { ...key, verify: (b, s) => (counted.checks++, verifySignature(b, s, key)) };
  const events: AcquireEvent[] = [];
  const waiters: (() => void)[] = [];
  const acq = new Acquirer({ tuner: feed.tuner, trusted: [trusted], now: () => 0, onEvent: (e) => (events.push(e), waiters.splice(0).forEach((w) => w())) });
  t.teardown(() => acq.close());
  await acq.tune();
  /** The `n`-th event of a kind (counting from 1 over the acquirer's life). */
  const nth = (kind: AcquireEvent['kind'], n: number): Promise<AcquireEvent> =>
    new Promise((resolve) => {
      const check = (): void => {
        const hit = events.filter((e) => e.kind === kind)[n - 1];
        if (hit !== undefined) resolve(hit);
        else waiters.push(check);
      };
      check();
    });
  return { feed, counted, acq, nth };
}

const withDirective = (set: ModuleSet, seq: number): ModuleSet => ({ ...set, modules: [...set.modules, makeModule('rollout.json', 'data', 'boot', utf8(JSON.stringify({ seq })))] });

test('a new directive beside the verified version: verified again without a signature check, the same app', async (t) => {
  const { feed, counted, acq, nth } = await acquirer(t, withDirective(v1.set, 1));
  const first = await nth('verified', 1);
  t.is(counted.checks, 1);
  feed.update(withDirective(v1.set, 2));
  const again = await nth('verified', 2);
  t.is(counted.checks, 1, 'the manifest was not checked again');
  const a = (first as Extract<AcquireEvent, { kind: 'verified' }>).app;
  const b = (again as Extract<AcquireEvent, { kind: 'verified' }>).app;
  t.is(b.manifestSha, a.manifestSha);
  t.deepEqual([...b.modules.keys()], [...a.modules.keys()]);
  t.is(acq.stats().verified, 2);
});

test('the same manifest with a module changed on air is still checked, and refused', async (t) => {
  const { feed, counted, nth } = await acquirer(t, v1.set);
  await nth('verified', 1);
  const tampered = await guideApp(keys, { version: '1.0.0', tamper: { ui: 'weft.on("start", () => {});' } });
  t.is(tampered.manifestBytes.length, v1.manifestBytes.length);
  feed.update({ ...v1.set, modules: v1.set.modules.map((m) => (m.name === 'ui' ? (tampered.set.modules.find((x) => x.name === 'ui') ?? m) : m)) });
  const r = await nth('refused', 1);
  t.like(r, { kind: 'refused', problem: 'tampered-module', module: 'ui' });
  t.is(counted.checks, 2, 'the manifest was checked again');
});

test('a new version is checked', async (t) => {
  const { feed, counted, nth } = await acquirer(t, v1.set);
  await nth('verified', 1);
  feed.update((await guideApp(keys, { version: '1.1.0' })).set);
  const u = await nth('update', 1);
  t.is((u as Extract<AcquireEvent, { kind: 'update' }>).app.manifest.version, '1.1.0');
  t.is(counted.checks, 2);
});
