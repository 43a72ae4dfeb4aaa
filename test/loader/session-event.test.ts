// weft.on('session') (issue 16 finding 3): a client module hears when its session comes up,
// with the session id, so it need not poll or retry its first request.
import test from 'ava';
import { profile } from '../../devices/profiles.ts';
import { loadEngine } from '../../sandbox/index.ts';
import { guideApp, signer } from '../_helpers/box-app.ts';
import { boxBroker, carouselFeed, makeBox, teardownInOrder } from '../_helpers/box-fixtures.ts';
import { Responder } from '../_helpers/headend-responder.ts';

const engine = await loadEngine();
const keys = await signer();

test('a client module hears the session come up, with its id', async (t) => {
  const uiSource = `weft.on('start', () => weft.ui.show({ screen: 'home', session: 'none' }));
    weft.on('session', (c) => weft.ui.show({ screen: 'home', session: c.state, id: c.session }));`;
  const app = await guideApp(keys, { uiSource });
  const broker = await boxBroker();
  const he = await Responder.start({ url: broker.url, engine, app, trusted: keys.trusted });
  const { box } = makeBox(engine, keys.trusted, carouselFeed(app.set).tuner, broker.url, { profile: profile('modern-4k') });
  teardownInOrder(t, box, he, broker);
  await box.start();
  await box.waitFor((b) => (b.screen('ui') as { session?: string } | undefined)?.session === 'up', 20_000);
  t.like(box.screen('ui'), { screen: 'home', session: 'up', id: box.session?.session });
});
