// An instance's open requests (headend/portions/open-requests.ts): an answer ends only its own
// request (same id from two senders), what is left comes out oldest first, and the bound gives up
// the oldest quarter, counted.
import test from 'ava';
import type { Address, Envelope } from '../../runtime/index.ts';
import { MAX_OPEN, OpenRequests } from '../../headend/portions/open-requests.ts';

const BOX_A: Address = { vaddr: 'weft://box/a/inbox' };
const BOX_B: Address = { vaddr: 'weft://box/b/inbox', udp: { host: '10.0.0.2', port: 7000 } };
const DST: Address = { vaddr: 'weft://mix/s1/counter' };
const req = (id: number, src: Address): Envelope => ({ v: 1, kind: 'req', id, src, dst: DST });
const rep = (corr: number, dst: Address): Envelope => ({ v: 1, kind: 'rep', id: 9, corr, src: DST, dst });

test('an answer ends its own request only, even when two senders use one id', (t) => {
  const o = new OpenRequests();
  o.add(req(1, BOX_A));
  o.add(req(1, BOX_B));
  o.add(req(2, BOX_A));
  t.is(o.size, 3);
  o.answered(rep(1, BOX_B));
  o.answered(rep(7, BOX_A)); // answers nothing open
  o.answered(rep(2, { vaddr: 'weft://box/c/inbox' })); // id 2, another sender: not A's
  t.deepEqual(o.take().map((e) => [e.id, e.src.vaddr]), [[1, BOX_A.vaddr], [2, BOX_A.vaddr]]);
  t.is(o.size, 0, 'taken: none kept');
});

test('the bound gives up the oldest quarter at once, counted', (t) => {
  const o = new OpenRequests();
  for (let i = 0; i < MAX_OPEN; i++) o.add(req(i, BOX_A));
  o.add(req(MAX_OPEN, BOX_A));
  t.is(o.untracked, MAX_OPEN / 4);
  t.is(o.size, MAX_OPEN - MAX_OPEN / 4 + 1);
  const left = o.take();
  t.is(left[0]?.id, MAX_OPEN / 4, 'the oldest went first');
  t.is(left.at(-1)?.id, MAX_OPEN);
});
