// VOD catalogue and billing service: titles with prices, and orders recorded once per
// idempotency key, so a box that retries an order after a cut channel is billed once. Orders are
// kept per box, at most `maxOrdersPerBox` each (docs/SECURITY.md).

import { Codes, RemoteError, positiveInt, rejectUnknown } from '../../runtime/index.ts';
import { onlyKeys, str, type HeadendService } from './service.ts';

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
  return {
    name: 'vod',
    describe: {
      catalogue: '({genre?}) -> titles',
      order: '({titleId, key}) -> order; the same key returns the same order (billed once)',
      orders: '() -> this box\'s orders',
    },
    methods: {
      catalogue: (a) => {
        const genre = str(onlyKeys(a, ['genre']), 'genre', { optional: true, max: 32 });
        return [...titles.values()].filter((t) => genre === undefined || t.genre === genre);
      },
      order: (a, caller) => {
        const args = onlyKeys(a, ['titleId', 'key']);
        const titleId = str(args, 'titleId', { max: 32 }) as string;
        const key = str(args, 'key', { max: 64 }) as string;
        if (caller.boxId === undefined) throw new RemoteError(Codes.FORBIDDEN, 'orders come from a box session');
        const title = titles.get(titleId);
        if (title === undefined) throw new RemoteError(Codes.NOT_FOUND, `no title "${titleId}"`);
        const mine = orders.get(caller.boxId) ?? new Map<string, Order>();
        const existing = mine.get(key);
        if (existing !== undefined) return existing;
        if (mine.size >= maxPerBox) throw new RemoteError(Codes.QUOTA, `box ${caller.boxId} holds ${mine.size} orders, its quota`, { quota: 'orders', limit: maxPerBox });
        const order: Order = { orderId: `o${++seq}`, boxId: caller.boxId, titleId, priceCents: title.priceCents, at: o.now() };
        mine.set(key, order);
        orders.set(caller.boxId, mine);
        return order;
      },
      orders: (a, caller) => {
        onlyKeys(a, []);
        return caller.boxId === undefined ? [] : [...(orders.get(caller.boxId)?.values() ?? [])];
      },
    },
  };
}
