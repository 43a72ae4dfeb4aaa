// Programme-guide data service: channels and a schedule generated deterministically from a
// seed (a stand-in for the head-end's EPG feed), with search. Read-only, no I/O.

import { seededRandom } from '../../runtime/index.ts';
import type { HeadendService } from './service.ts';

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

const MAX_TIME = Number.MAX_SAFE_INTEGER;

export function guideService(o: GuideOptions): HeadendService {
  const all = buildGuide(o);
  const channels = [...new Set(all.map((p) => p.channel))];
  return {
    name: 'guide',
    doc: 'Programme guide data: channels and their schedules, with search. Times are ms since the Unix epoch. Read-only.',
    methods: {
      channels: { summary: 'The channel numbers of the guide.', args: {}, returns: 'number[]: channel numbers', call: () => channels },
      schedule: {
        summary: 'The programmes of one channel that overlap a time window.',
        args: {
          channel: { type: 'integer', doc: 'channel number', min: 1, max: 9999 },
          from: { type: 'integer', doc: 'window start (ms since epoch)', min: 0, max: MAX_TIME, default: 0 },
          to: { type: 'integer', doc: 'window end (ms since epoch)', min: 0, max: MAX_TIME, default: MAX_TIME },
        },
        returns: 'Programme[]: {channel, title, genre, start, end}',
        call: (a) => all.filter((p) => p.channel === a.channel && p.end > (a.from as number) && p.start < (a.to as number)),
      },
      now: {
        summary: 'What is on every channel at one time.',
        args: { at: { type: 'integer', doc: 'the time (ms since epoch); default: the start of the guide', min: 0, max: MAX_TIME, default: all[0]?.start ?? 0 } },
        returns: 'Programme[]: one per channel',
        call: (a) => all.filter((p) => p.start <= (a.at as number) && (a.at as number) < p.end),
      },
      search: {
        summary: 'Programmes whose title contains the query, or whose genre is the query.',
        args: { q: { type: 'string', doc: 'the query, matched case-insensitively', max: 64 }, limit: { type: 'integer', doc: 'most programmes returned', min: 1, max: 200, default: 20 } },
        returns: 'Programme[]: at most `limit`, in guide order',
        call: (a) => search(all, (a.q as string).toLowerCase(), a.limit as number),
      },
    },
  };
}

function search(all: Programme[], q: string, limit: number): Programme[] {
  const hits: Programme[] = [];
  for (const p of all) {
    if (p.title.toLowerCase().includes(q) || p.genre === q) hits.push(p);
    if (hits.length >= limit) break;
  }
  return hits;
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
    doc: 'The guide by day, as a box-sized listing: start times in minutes since local midnight of the guide\'s first day. Read-only.',
    methods: {
      listings: {
        summary: "One day's programmes.",
        args: { day: { type: 'integer', doc: 'days after the first day of the guide', min: 0, max: 13, default: 0 } },
        returns: 'Listing[]: {id, channel, title, start (minutes since midnight), duration (minutes), genre}',
        call: (a) => listings(a.day as number),
      },
      channels: { summary: 'The channel numbers.', args: {}, returns: 'number[]', call: () => [...new Set(all.map((p) => p.channel))] },
    },
  };
}
