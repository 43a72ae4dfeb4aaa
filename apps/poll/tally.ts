// poll/tally: the app-wide server module (`"scope": "app"`): one instance for every box of the
// app, its counts in the app's head-end storage, every request inside its critical section
// (`"critical": {"guard": "queue"}`), so concurrent votes from many boxes never race. A vote
// retried with the same rid is answered, not counted again (the head-end's duplicate window).

import type { Weft } from '../weft-api.ts';
import { OPTIONS, QUESTION, type TallyRequest, type Totals } from './shared.ts';

declare const weft: Weft;

function read(): Totals {
  const s = weft.storage;
  const saved = s?.get('totals');
  const totals = Array.isArray(saved) && saved.length === OPTIONS.length ? saved.map((n) => (typeof n === 'number' ? n : 0)) : OPTIONS.map(() => 0);
  const votes = s?.get('votes');
  const sessions = s?.get('sessions');
  return { question: QUESTION, options: OPTIONS, totals, votes: typeof votes === 'number' ? votes : 0, sessions: typeof sessions === 'number' ? sessions : 0 };
}

// A bad request is answered with `{ error }`: a handler that throws would stop the module for everyone.
weft.on('request', (body) => {
  const req = body as TallyRequest | null;
  if (req?.op === 'totals') return read();
  if (req?.op !== 'vote') return { error: 'op must be "vote" or "totals"' };
  if (!Number.isInteger(req.choice) || req.choice < 0 || req.choice >= OPTIONS.length) return { error: `choice must be 0..${OPTIONS.length - 1}` };
  const t = read();
  t.totals[req.choice] = (t.totals[req.choice] ?? 0) + 1;
  t.votes++;
  weft.storage?.set('totals', t.totals);
  weft.storage?.set('votes', t.votes);
  return t;
});

// The box's session came up (its client-started note reaches the app-wide module of a session
// with no session-scope server module): count it, for the screen.
weft.on('message', (body) => {
  if ((body as { session?: unknown } | null)?.session === undefined) return;
  const n = weft.storage?.get('sessions');
  weft.storage?.set('sessions', (typeof n === 'number' ? n : 0) + 1);
});
