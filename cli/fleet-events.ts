// `weft fleet run --events [kinds]`: which box events a fleet prints as JSON lines. Every kind by
// default; a bench that reads three kinds asks for those, so a fleet of keyed boxes does not
// write (and its reader parse) every screen and state change (bench rollout, wave 11).
import type { BoxEvent } from '../loader/index.ts';
import { UserError } from './user-error.ts';

export const BOX_EVENT_KINDS = ['state', 'refused', 'corrupt', 'module', 'dial', 'link', 'session', 'scene', 'log', 'cache-full', 'probation', 'tuner', 'session-retry', 'error'] as const satisfies readonly BoxEvent['kind'][];
// Every kind a box can emit is in the list: a new kind fails the type check here.
type Unlisted = Exclude<BoxEvent['kind'], (typeof BOX_EVENT_KINDS)[number]>;
const listsAll: [Unlisted] extends [never] ? true : never = true;
void listsAll;

/** Parse `--events` kinds: a comma-separated list of box event kinds, each known. */
export function parseEventKinds(v: string): string[] {
  const kinds = v.split(',').map((k) => k.trim()).filter((k) => k !== '');
  const known: readonly string[] = BOX_EVENT_KINDS;
  const bad = kinds.filter((k) => !known.includes(k));
  if (kinds.length === 0 || bad.length > 0) {
    throw new UserError(`--events: ${kinds.length === 0 ? 'no kind given' : `unknown kind ${bad.map((k) => `"${k}"`).join(', ')}`}`, `name kinds from: ${BOX_EVENT_KINDS.join(', ')}; or give --events alone for every kind`);
  }
  return [...new Set(kinds)];
}

/** The filter a fleet applies: every event (`true`), the listed kinds, or none. */
export function eventFilter(events: boolean | string[] | undefined): (kind: string | undefined) => boolean {
  if (events === true) return () => true;
  if (events === undefined || events === false) return () => false;
  const set = new Set(events);
  return (kind) => kind !== undefined && set.has(kind);
}
