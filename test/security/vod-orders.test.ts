// docs/SECURITY.md row "services bound what a box makes them keep": VOD orders are kept per box
// with a quota, so a box placing orders under ever new idempotency keys cannot grow the head-end
// without limit (issue 12 build item 5: every per-box map is bounded). Orders already placed
// stay (they are billing records); the next new one is refused with QUOTA.

import test from 'ava';
import { Codes, RemoteError } from '../../runtime/index.ts';
import { vodService, type Args } from '../../headend/services/index.ts';

const caller = (boxId: string) => ({ app: 'vod', session: `s-${boxId}`, boxId });

test('a box over its order quota is refused with QUOTA; its orders and other boxes are unaffected', (t) => {
  const vod = vodService({ now: () => 0, maxOrdersPerBox: 3 });
  const order = (a: Args, c: ReturnType<typeof caller>) => vod.methods.order?.call(a, c) as { orderId: string };
  const orders = (a: Args, c: ReturnType<typeof caller>) => vod.methods.orders?.call(a, c) as unknown[];
  for (let i = 0; i < 3; i++) order({ titleId: 'm1', key: `k${i}` }, caller('a'));
  const e = t.throws(() => order({ titleId: 'm1', key: 'k3' }, caller('a')));
  t.true(e instanceof RemoteError && e.remoteCode === Codes.QUOTA, String(e));
  t.like((e as RemoteError).data, { quota: 'orders' });
  t.is(order({ titleId: 'm1', key: 'k1' }, caller('a')).orderId, 'o2', 'a retried key still returns its order (billed once)');
  t.is(orders({}, caller('a')).length, 3);
  t.notThrows(() => order({ titleId: 'm2', key: 'k0' }, caller('b')));
  t.is(orders({}, caller('b')).length, 1);
});

test('the order quota is validated', (t) => {
  t.throws(() => vodService({ now: () => 0, maxOrdersPerBox: 0 }), { message: /maxOrdersPerBox/ });
  t.throws(() => vodService({ now: () => 0, extra: 1 } as never), { message: /extra/ });
});
