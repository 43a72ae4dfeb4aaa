import test from 'ava';
import { Channel, Codes, LocalBus, RemoteError, type Envelope } from '../../runtime/index.ts';
import { ServiceHost, buildGuide, guideService, vodService } from '../../headend/services/index.ts';

const FROM = Date.UTC(2026, 10, 26, 18, 0);

async function setup() {
  const bus = new LocalBus();
  const st = bus.open('services');
  const host = new ServiceHost({
    services: [guideService({ from: FROM, channels: 10, hours: 24 }), vodService({ now: () => FROM })],
    boxOf: (_app, session) => (session === 's1' ? 'box-1' : session === 's2' ? 'box-2' : undefined),
  });
  const server = new Channel({ self: st.address, write: (e: Envelope) => st.send(e), onRequest: host.handle });
  st.onEnvelope((e) => server.receive(e));
  const portion = (session: string) => {
    const t = bus.open(`p-${session}`);
    const ch = new Channel({ self: { ...t.address, vaddr: `weft://vod/${session}/shop` }, write: (e: Envelope) => t.send(e) });
    t.onEnvelope((e) => ch.receive(e));
    return (op: string, body?: unknown) => ch.request(st.address, body, { op });
  };
  return { host, portion };
}

test('guide: a deterministic schedule without gaps on every channel', (t) => {
  const a = buildGuide({ from: FROM, channels: 5, hours: 6 });
  t.deepEqual(a, buildGuide({ from: FROM, channels: 5, hours: 6 }));
  for (let ch = 101; ch < 106; ch++) {
    const progs = a.filter((p) => p.channel === ch);
    t.is(progs[0]?.start, FROM);
    for (let i = 1; i < progs.length; i++) t.is(progs[i]?.start, progs[i - 1]?.end);
  }
});

test('guide methods answer over the protocol; bad arguments are refused by name', async (t) => {
  const { portion } = await setup();
  const call = portion('s1');
  t.deepEqual(await call('svc.guide.channels'), [101, 102, 103, 104, 105, 106, 107, 108, 109, 110]);
  const now = (await call('svc.guide.now', { at: FROM + 60_000 })) as { channel: number }[];
  t.is(now.length, 10);
  const hits = (await call('svc.guide.search', { q: 'news', limit: 3 })) as { genre: string }[];
  t.true(hits.length <= 3);
  const e = await t.throwsAsync(call('svc.guide.search', { q: 'x', colour: 'red' }), { instanceOf: RemoteError });
  t.is(e.code, Codes.BAD_REQUEST);
  t.regex(e.message, /unknown argument "colour"/);
  const nf = await t.throwsAsync(call('svc.guide.toString'), { instanceOf: RemoteError });
  t.is(nf.code, Codes.NOT_FOUND);
  await t.throwsAsync(call('svc.billing.charge'), { instanceOf: RemoteError, message: /no service method/ });
});

test('vod: an order retried with the same key is billed once, per box', async (t) => {
  const { portion, host } = await setup();
  const box1 = portion('s1');
  const box2 = portion('s2');
  const o1 = await box1('svc.vod.order', { titleId: 'm3', key: 'k1' });
  const again = await box1('svc.vod.order', { titleId: 'm3', key: 'k1' });
  t.deepEqual(again, o1);
  await box2('svc.vod.order', { titleId: 'm1', key: 'k1' });
  t.deepEqual(((await box1('svc.vod.orders')) as { titleId: string }[]).map((o) => o.titleId), ['m3']);
  t.deepEqual(((await box2('svc.vod.orders')) as { boxId: string }[]).map((o) => o.boxId), ['box-2']);
  const nf = await t.throwsAsync(box1('svc.vod.order', { titleId: 'zz', key: 'k2' }), { instanceOf: RemoteError });
  t.is(nf.code, Codes.NOT_FOUND);
  const anon = portion('s9');
  const fb = await t.throwsAsync(anon('svc.vod.order', { titleId: 'm1', key: 'k' }), { instanceOf: RemoteError });
  t.is(fb.code, Codes.FORBIDDEN);
  t.is(host.stats().calls['svc.vod.order'], 5);
});
