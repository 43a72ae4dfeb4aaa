// Shared output for benchmarks: a table for people, then exactly one JSON line for machines.

export interface Row {
  [column: string]: string | number;
}

export function table(title: string, rows: Row[]): void {
  console.log(`\n${title}`);
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0] as Row);
  const cell = (v: string | number | undefined): string => (typeof v === 'number' ? fmt(v) : (v ?? ''));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  console.log(cols.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  '));
  for (const r of rows) console.log(cols.map((c, i) => cell(r[c]).padStart(widths[i] ?? 0)).join('  '));
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(3);
}

/** The last line of every benchmark. `null` marks a figure this run could not measure. */
export function result(bench: string, fields: Record<string, number | string | null>): void {
  const out: Record<string, number | string | null> = { bench };
  for (const [k, v] of Object.entries(fields)) out[k] = typeof v === 'number' ? Number(v.toPrecision(4)) : v;
  console.log(JSON.stringify(out));
}

/** Percentile of an unsorted sample (nearest rank). */
export function percentile(sample: number[], p: number): number {
  if (sample.length === 0) return NaN;
  const s = [...sample].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}
