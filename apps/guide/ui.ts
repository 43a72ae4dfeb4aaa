// guide/ui: client module (boot tier) [c1, c3]. Draws the programme guide on the box, takes
// remote-control keys, asks the search module (wherever it runs) for matches, and keeps the
// last query in app storage so a reboot comes back to it.

import type { Weft } from '../weft-api.ts';
import { clock, type Programme, type SearchReply } from './shared.ts';

declare const weft: Weft;

type Status = 'loading' | 'ready' | 'offline';

let query = '';
let hits: Programme[] = [];
let total = 0;
let focus = 0;
let status: Status = 'loading';
let detail: Programme | undefined;
let asked = 0;

function render(): void {
  const model = weft.device?.info().model;
  weft.ui?.show(
    detail !== undefined
      ? { screen: 'detail', title: detail.title, channel: detail.channel, time: clock(detail.start), minutes: detail.duration, genre: detail.genre }
      : {
          screen: 'guide',
          title: typeof model === 'string' ? `Guide (${model})` : 'Guide',
          query,
          status,
          total,
          items: hits.map((p, i) => ({ time: clock(p.start), channel: p.channel, title: p.title, focused: i === focus })),
        },
  );
}

async function refresh(): Promise<void> {
  const mine = ++asked;
  try {
    const reply = (await weft.request(weft.address('search'), { op: 'search', q: query, limit: 8 }, { timeout: 4000 })) as SearchReply;
    if (mine !== asked) return; // a newer query is on its way
    hits = reply.hits;
    total = reply.total;
    status = 'ready';
  } catch {
    if (mine !== asked) return;
    status = 'offline';
  }
  focus = Math.min(focus, Math.max(hits.length - 1, 0));
  render();
}

function setQuery(q: string): void {
  query = q;
  focus = 0;
  weft.storage?.set('lastQuery', query);
  void refresh();
}

weft.on('start', () => {
  const saved = weft.storage?.get('lastQuery');
  query = typeof saved === 'string' ? saved : '';
  render();
  void refresh();
});

// The session came up (or back): ask again, so the screen does not stay "offline" until a key.
weft.on('session', ({ state }) => {
  if (state === 'up' || state === 'moved') void refresh();
});

weft.on('key', (key) => {
  if (detail !== undefined) {
    if (key === 'back' || key === 'ok') detail = undefined;
    return render();
  }
  if (key === 'down') focus = Math.min(focus + 1, Math.max(hits.length - 1, 0));
  else if (key === 'up') focus = Math.max(focus - 1, 0);
  else if (key === 'ok' && hits[focus] !== undefined) detail = hits[focus];
  else if (key === 'back') return setQuery(query.slice(0, -1));
  else if (/^[a-z0-9 ]$/.test(key)) return setQuery(query + key);
  render();
});
