// Programme-guide data service: channels and a schedule generated deterministically from a
// seed (a stand-in for the head-end's EPG feed), with search. Read-only, no I/O.

import { seededRandom } from '../../runtime/index.ts';
import { int, onlyKeys, str, type HeadendService } from './service.ts';

export interface Programme {
  channel: number;
  title: string;
  genre: string;
  start: number; // ms since epoch
  end: number;
}

const GENRES = ['news', 'sport', 'film', 'kids', 'music', 'documentary', 'drama', 'comedy'] as const;
const WORDS = ['Morning', 'Evening', 'Live', 'World', 'City', 'Ocean', 'Mountain', 'Night', 'Cup', 'Final', 'Kitchen', 'Garden', 'Detective', 'Planet', 'Classic', 'Late'];
const SLOT_MS = 30 * 60_000;


export interface GuideOptions {
  channels?: number;
  /** Start of the guide window, ms since epoch (rounded down to a half hour). */
  from: number;
  hours?: number;
  seed?: number;
}

export function buildGuide(o: GuideOptions): Programme[] {
  const channels = o.channels ?? 40;
  const hours = o.hours ?? 48;
  const start = Math.floor(o.from / SLOT_MS) * SLOT_MS;
  const end = start + hours * 3_600_000;
  const r = seededRandom(o.seed ?? 2026); // every node serves the same guide
  const out: Programme[] = [];
  for (let ch = 101; ch < 101 + channels; ch++) {
    let t = start;
    while (t < end) {
      const slots = 1 + Math.floor(r() * 4);
      const genre = GENRES[Math.floor(r() * GENRES.length)] as string;
      const title = `${WORDS[Math.floor(r() * WORDS.length)]} ${WORDS[Math.floor(r() * WORDS.length)]}`;
      out.push({ channel: ch, title, genre, start: t, end: t + slots * SLOT_MS });
      t += slots * SLOT_MS;
    }
  }
  return out;
}

export function guideService(o: GuideOptions): HeadendService {
  const all = buildGuide(o);
  const channels = [...new Set(all.map((p) => p.channel))];
  return {
    name: 'guide',
    describe: {
      channels: '() -> channel numbers',
      schedule: '({channel, from?, to?}) -> programmes of one channel in a window',
      now: '({at?}) -> what is on every channel at a time',
      search: '({q, limit?}) -> programmes whose title or genre contains q',
    },
    methods: {
      channels: (a) => (onlyKeys(a, []), channels),
      schedule: (a) => {
        const args = onlyKeys(a, ['channel', 'from', 'to']);
        const channel = int(args, 'channel', 0, 1, 9999);
        const from = int(args, 'from', 0, 0, Number.MAX_SAFE_INTEGER);
        const to = int(args, 'to', Number.MAX_SAFE_INTEGER, 0, Number.MAX_SAFE_INTEGER);
        return all.filter((p) => p.channel === channel && p.end > from && p.start < to);
      },
      now: (a) => {
        const args = onlyKeys(a, ['at']);
        const at = int(args, 'at', all[0]?.start ?? 0, 0, Number.MAX_SAFE_INTEGER);
        return all.filter((p) => p.start <= at && at < p.end);
      },
      search: (a) => {
        const args = onlyKeys(a, ['q', 'limit']);
        const q = (str(args, 'q', { max: 64 }) as string).toLowerCase();
        const limit = int(args, 'limit', 20, 1, 200);
        const hits: Programme[] = [];
        for (const p of all) {
          if (p.title.toLowerCase().includes(q) || p.genre === q) hits.push(p);
          if (hits.length >= limit) break;
        }
        return hits;
      },
    },
  };
}

/** The guide as the guide app's peer module reads it (`epg` service): per day, minutes since midnight. */
export function epgService(o: GuideOptions): HeadendService {
  const all = buildGuide({ ...o, hours: Math.max(o.hours ?? 48, 24) });
  const day0 = Math.floor(o.from / 86_400_000) * 86_400_000;
  const listings = (day: number) =>
    all
      .filter((p) => p.start >= day0 + day * 86_400_000 && p.start < day0 + (day + 1) * 86_400_000)
      .map((p, i) => ({ id: `${day}-${p.channel}-${i}`, channel: p.channel, title: p.title, start: Math.round((p.start - day0 - day * 86_400_000) / 60_000), duration: Math.round((p.end - p.start) / 60_000), genre: p.genre }));
  return {
    name: 'epg',
    describe: { listings: '({day}) -> the day\'s programmes, start in minutes since midnight', channels: '() -> channel numbers' },
    methods: {
      listings: (a) => listings(int(onlyKeys(a, ['day']), 'day', 0, 0, 13)),
      channels: (a) => (onlyKeys(a, []), [...new Set(all.map((p) => p.channel))]),
    },
  };
}
