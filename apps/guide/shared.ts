// What the guide's modules say to each other: message shapes and a tiny validator. Bundled into
// each module that imports it; no state here.

export interface Programme {
  id: string;
  channel: number;
  title: string;
  /** Start, minutes since midnight of `day`. */
  start: number;
  /** Minutes. */
  duration: number;
  genre: string;
}

export type EpgRequest = { op: 'listings'; day: number } | { op: 'channels' };
export type SearchRequest = { op: 'search'; q: string; day?: number; limit?: number } | { op: 'stats' };

export interface SearchReply {
  q: string;
  hits: Programme[];
  total: number;
}

export function isProgramme(v: unknown): v is Programme {
  const p = v as Programme;
  return (
    typeof p === 'object' && p !== null && typeof p.id === 'string' && typeof p.title === 'string' && typeof p.genre === 'string' &&
    Number.isInteger(p.channel) && Number.isInteger(p.start) && Number.isInteger(p.duration)
  );
}

export function clock(minutes: number): string {
  const h = Math.floor(minutes / 60) % 24;
  const m = minutes % 60;
  return `${h < 10 ? '0' : ''}${h}:${m < 10 ? '0' : ''}${m}`;
}
