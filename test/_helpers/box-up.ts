// A modern-4k box up on an app version against a test head-end (Responder) on the test broker,
// the carousel feed it tunes to, all torn down in order: the start of every version-switch test.
import type { ExecutionContext } from 'ava';
import { profile } from '../../devices/profiles.ts';
import type { BoxOptions } from '../../loader/index.ts';
import type { Engine } from '../../sandbox/index.ts';
import type { BuiltApp, Signer } from './box-app.ts';
import { boxBroker, carouselFeed, makeBox, teardownInOrder } from './box-fixtures.ts';
import { Responder } from './headend-responder.ts';

export async function boxUpOn(t: ExecutionContext, engine: Engine, keys: Signer, app: BuiltApp, o: Partial<BoxOptions> = {}) {
  const broker = await boxBroker();
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted });
  const feed = carouselFeed(app.set);
  const { box, events } = makeBox(engine, keys.trusted, feed.tuner, broker.url, { profile: profile('modern-4k'), ...o });
  teardownInOrder(t, box, he, broker);
  await box.start();
  await box.waitFor((b) => b.state === 'up', 20_000);
  return { he, feed, box, events };
}
