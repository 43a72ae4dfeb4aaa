// guide/search: mutable module [c4, c5, c18]. Full-text search over a day's listings, fetched
// from the epg peer. Runs on the box or on the head-end as placement decides; snapshot() and
// restore() carry its index across a move so no listing is fetched twice.

import type { Weft } from '../weft-api.ts';
import { isProgramme, type Programme, type SearchReply, type SearchRequest } from './shared.ts';

declare const weft: Weft;

interface State {
  v: 1;
  day: number;
  index: Programme[];
  queries: number;
}

let state: State = { v: 1, day: -1, index: [], queries: 0 };

async function load(day: number): Promise<void> {
  const rows = await weft.request(weft.address('epg'), { op: 'listings', day }, { timeout: 5000 });
  state = { ...state, day, index: Array.isArray(rows) ? rows.filter(isProgramme) : [] };
}

function words(s: string): string[] {
  return s.toLowerCase().split(/[^a-z0-9]+/).filter((w) => w.length > 0);
}

/** Every query word must start a word of the title or genre; earlier programmes first. */
function find(q: string, limit: number): SearchReply {
  const want = words(q);
  const hits = state.index.filter((p) => {
    const have = words(`${p.title} ${p.genre}`);
    return want.every((w) => have.some((h) => h.startsWith(w)));
  });
  return { q, hits: hits.slice(0, limit), total: hits.length };
}

weft.on('request', async (body) => {
  const req = body as SearchRequest;
  if (req?.op === 'stats') return { day: state.day, entries: state.index.length, queries: state.queries };
  if (req?.op !== 'search' || typeof req.q !== 'string') return { error: 'unknown op' };
  const day = req.day ?? 0;
  if (state.day !== day) await load(day);
  state.queries++;
  return find(req.q.slice(0, 64), Math.min(Math.max(req.limit ?? 10, 1), 50));
});

export function snapshot(): State {
  return state;
}

export function restore(saved: unknown): void {
  const s = saved as State;
  if (s?.v !== 1 || !Array.isArray(s.index)) throw new Error('search: unknown state version');
  state = { v: 1, day: s.day, index: s.index.filter(isProgramme), queries: s.queries };
}
