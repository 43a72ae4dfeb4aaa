// VOD catalogue and billing service: titles with prices, and orders recorded once per
// idempotency key, so a box that retries an order after a cut channel is billed once.

import { Codes, RemoteError } from '../../runtime/index.ts';
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
}

export const DEFAULT_TITLES: Title[] = [
  { id: 'm1', name: 'The Long Signal', genre: 'drama', priceCents: 399 },
  { id: 'm2', name: 'Carousel Nights', genre: 'comedy', priceCents: 299 },
  { id: 'm3', name: 'Head-End', genre: 'thriller', priceCents: 499 },
  { id: 'm4', name: 'Return Path', genre: 'documentary', priceCents: 199 },
  { id: 'm5', name: 'Set-Top Heroes', genre: 'kids', priceCents: 249 },
];

export function vodService(o: VodOptions): HeadendService {
  const titles = new Map((o.titles ?? DEFAULT_TITLES).map((t) => [t.id, t]));
  const orders = new Map<string, Order>(); // by box + idempotency key
  let seq = 0;
  const order = (titleId: string, key: string, caller: CallerInfo): Order => {
    if (caller.boxId === undefined) throw new RemoteError(Codes.FORBIDDEN, 'orders come from a box session');
    const title = titles.get(titleId);
    if (title === undefined) throw new RemoteError(Codes.NOT_FOUND, `no title "${titleId}"`);
    const k = `${caller.boxId}/${key}`;
    const existing = orders.get(k);
    if (existing !== undefined) return existing;
    const made: Order = { orderId: `o${++seq}`, boxId: caller.boxId, titleId, priceCents: title.priceCents, at: o.now() };
    orders.set(k, made);
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
        ],
        call: (a, caller) => order(a.titleId as string, a.key as string, caller),
      },
      orders: { summary: "The calling box's orders.", args: {}, returns: 'Order[]', call: (_a, caller) => [...orders.values()].filter((x) => x.boxId === caller.boxId) },
    },
  };
}
