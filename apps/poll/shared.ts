// What poll's modules say to each other: the question, message shapes and a validator. Bundled
// into each module that imports it; no state here.

export const QUESTION = 'Which film tonight?';
export const OPTIONS: readonly string[] = ['The Long Night', 'Harbour Lights', 'Nature Hour'];

/** A vote, named by `rid` (unique per box): retried with the same rid, it counts once. */
export type TallyRequest = { op: 'vote'; choice: number; rid: string } | { op: 'totals' };

export interface Totals {
  question: string;
  options: readonly string[];
  /** Votes per option, in OPTIONS order. */
  totals: number[];
  /** All votes counted. */
  votes: number;
  /** Sessions that came up (client-started notes). */
  sessions: number;
}

export function isTotals(v: unknown): v is Totals {
  const t = v as Partial<Totals> | null;
  return t !== null && typeof t === 'object' && Array.isArray(t.totals) && typeof t.votes === 'number';
}
