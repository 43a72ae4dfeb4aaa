// Remote-control keys are input from outside: a box holds a bounded number of them while its CPU
// has not run them yet (issue 15). Unbounded, the keys of a busy box backed up in front of a new
// version's start, and probation reverted the good version for no ready (bench rollout, 200
// key-pressing boxes in one fleet process). Deterministic: the CPU is a gate the test opens.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import type { Cpu } from '../../loader/index.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { boxBroker, carouselFeed, makeBox } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';

const engine = await loadEngine();
const keys = await signer();

/** A CPU that runs guest work at once, or, while shut, queues it until opened (a busy box). */
class GateCpu implements Cpu {
  shut = false;
  readonly queue: (() => void)[] = [];
  #waits: { n: number; go: () => void }[] = [];
  /** Resolves once `n` jobs wait. */
  queued(n: number): Promise<void> {
    return new Promise((go) => (this.queue.length >= n ? go() : this.#waits.push({ n, go })));
  }
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const job = (): void => {
        try {
          resolve(fn());
        } catch (e) {
          reject(e as Error);
        }
      };
      if (!this.shut) return job();
      this.queue.push(job);
      for (const w of this.#waits.filter((x) => this.queue.length >= x.n)) w.go();
    });
  }
  open(): void {
    this.shut = false;
    for (const job of this.queue.splice(0)) job();
  }
  load(): number {
    return 0;
  }
  now(): number {
    return performance.now();
  }
}

test('keys pressed while the box\'s CPU is busy: at most 8 wait, the rest are dropped and counted; a new version then starts behind 8 keys, not behind all of them', async (t) => {
  const v1 = await guideApp(keys, { version: '1.0.0' });
  const v2 = await guideApp(keys, { version: '1.0.1' });
  const broker = await boxBroker();
  const he = await Responder.start({ url: broker.url, engine, app: v1, trusted: keys.trusted });
  const feed = carouselFeed(v1.set);
  const cpu = new GateCpu();
  const { box, events } = makeBox(engine, keys.trusted, feed.tuner, broker.url, { profile: profile('modern-4k'), cpu });
  t.teardown(async () => {
    cpu.open();
    await box.stop();
    await he.close();
    await broker.close();
  });
  await box.start();
  await box.waitFor((b) => b.state === 'up', 20_000);
  cpu.shut = true;
  const pressed = Array.from({ length: 40 }, () => box.pressKey('up'));
  t.is(cpu.queue.length, 8, 'eight key presses wait for the CPU');
  t.is(box.stats().keysDropped, 32, 'the other 32 were dropped and counted');
  // A new version arrives while the CPU is still busy: its start queues behind the eight.
  feed.update(v2.set);
  await box.waitFor(() => events.some((e) => e.kind === 'state' && e.action === 'restart-app'), 20_000);
  await cpu.queued(9);
  t.is(cpu.queue.length, 9, 'the new version\'s start waits behind eight keys only');
  cpu.open();
  await Promise.all(pressed);
  await box.waitFor((b) => b.state === 'up' && b.app?.manifest.version === '1.0.1', 20_000);
  t.true(events.some((e) => e.kind === 'module' && e.module === 'ui' && e.action === 'started'));
});
