// guide/epg: peer module [c6, c7]. Reads programme listings from the head-end's `epg` service
// through weft.services, which pins it to the head-end; caches a day's listings.

import type { Weft } from '../weft-api.ts';
import { type EpgRequest, isProgramme, type Programme } from './shared.ts';

declare const weft: Weft;

const cache = new Map<number, Programme[]>();

async function listings(day: number): Promise<Programme[]> {
  const hit = cache.get(day);
  if (hit !== undefined) return hit;
  const services = weft.services;
  if (services === undefined) throw new Error('the epg module runs on the head-end only');
  const rows = await services.request('epg', { op: 'listings', day });
  if (!Array.isArray(rows)) throw new Error('the epg service answered something other than a list');
  const clean = rows.filter(isProgramme).sort((a, b) => a.start - b.start || a.channel - b.channel);
  if (cache.size >= 7) cache.delete(cache.keys().next().value as number);
  cache.set(day, clean);
  return clean;
}

weft.on('request', async (body) => {
  const req = body as EpgRequest;
  if (req?.op === 'listings') {
    const day = Number.isInteger(req.day) && req.day >= 0 && req.day < 14 ? req.day : 0;
    return listings(day);
  }
  if (req?.op === 'channels') return [...new Set((await listings(0)).map((p) => p.channel))].sort((a, b) => a - b);
  return { error: 'unknown op' };
});
