// VOD catalogue and billing service: titles with prices, and orders recorded once per
// idempotency key, so a box that retries an order after a cut channel is billed once. Orders are
// kept per box, at most `maxOrdersPerBox` each (docs/SECURITY.md).

import { Codes, RemoteError, positiveInt, rejectUnknown } from '../../runtime/index.ts';
import type { CallerInfo, HeadendService } from './service.ts';

export interface Title {
  id: string;
  name: string;
  genre: string;
  priceCents: number;
}

export interface Order {
  orderId: string;
  boxId: string;
  titleId: string;
  priceCents: number;
  at: number;
}

export interface VodOptions {
  titles?: Title[];
  now: () => number;
  /** Orders one box may hold; past it new orders are refused (QUOTA, data.quota = orders). Default 1,000. */
  maxOrdersPerBox?: number;
}

const DEFAULT_MAX_ORDERS_PER_BOX = 1000;

export const DEFAULT_TITLES: Title[] = [
  { id: 'm1', name: 'The Long Signal', genre: 'drama', priceCents: 399 },
  { id: 'm2', name: 'Carousel Nights', genre: 'comedy', priceCents: 299 },
  { id: 'm3', name: 'Head-End', genre: 'thriller', priceCents: 499 },
  { id: 'm4', name: 'Return Path', genre: 'documentary', priceCents: 199 },
  { id: 'm5', name: 'Set-Top Heroes', genre: 'kids', priceCents: 249 },
];

export function vodService(o: VodOptions): HeadendService {
  rejectUnknown('vodService', o, ['titles', 'now', 'maxOrdersPerBox']);
  const maxPerBox = positiveInt('vodService', 'maxOrdersPerBox', o.maxOrdersPerBox ?? DEFAULT_MAX_ORDERS_PER_BOX);
  const titles = new Map((o.titles ?? DEFAULT_TITLES).map((t) => [t.id, t]));
  const orders = new Map<string, Map<string, Order>>(); // box -> idempotency key -> order
  let seq = 0;
  const order = (titleId: string, key: string, caller: CallerInfo): Order => {
    if (caller.boxId === undefined) throw new RemoteError(Codes.FORBIDDEN, 'orders come from a box session');
    const title = titles.get(titleId);
    if (title === undefined) throw new RemoteError(Codes.NOT_FOUND, `no title "${titleId}"`);
    const mine = orders.get(caller.boxId) ?? new Map<string, Order>();
    const existing = mine.get(key);
    if (existing !== undefined) return existing;
    if (mine.size >= maxPerBox) throw new RemoteError(Codes.QUOTA, `box ${caller.boxId} holds ${mine.size} orders, its quota`, { quota: 'orders', limit: maxPerBox });
    const made: Order = { orderId: `o${++seq}`, boxId: caller.boxId, titleId, priceCents: title.priceCents, at: o.now() };
    mine.set(key, made);
    orders.set(caller.boxId, mine);
    return made;
  };
  return {
    name: 'vod',
    doc: "Video on demand: the catalogue and the box's orders. An order is billed to the box of the calling session, which the head-end knows from authentication, never from the request.",
    methods: {
      catalogue: {
        summary: 'Titles with prices, optionally of one genre.',
        args: { genre: { type: 'string', doc: 'only titles of this genre', max: 32, optional: true } },
        returns: 'Title[]: {id, name, genre, priceCents}',
        call: (a) => [...titles.values()].filter((t) => a.genre === undefined || t.genre === a.genre),
      },
      order: {
        summary: 'Order a title for the calling box; the same key returns the same order, so a retried order is billed once.',
        args: { titleId: { type: 'string', doc: 'a title id from the catalogue', max: 32 }, key: { type: 'string', doc: 'idempotency key chosen by the caller', max: 64 } },
        returns: 'Order: {orderId, boxId, titleId, priceCents, at}',
        errors: [
          { code: 'FORBIDDEN', when: 'the calling session is not a box session' },
          { code: 'NOT_FOUND', when: 'no title with that id' },
          { code: 'QUOTA', when: 'the box already holds `maxOrdersPerBox` orders (data.quota = orders)' },
        ],
        call: (a, caller) => order(a.titleId as string, a.key as string, caller),
      },
      orders: { summary: "The calling box's orders.", args: {}, returns: 'Order[]', call: (_a, caller) => (caller.boxId === undefined ? [] : [...(orders.get(caller.boxId)?.values() ?? [])]) },
    },
  };
}
