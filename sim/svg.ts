// A tiny SVG chart writer for the simulator's plots (docs/*.svg): line charts (linear or log y)
// and grouped bar charts. Strings in, a standalone SVG document out; no I/O, no dependencies.

export interface LineSeries {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

export interface LineChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly LineSeries[];
  readonly width?: number;
  readonly height?: number;
  /** Logarithmic y axis (values <= 0 are dropped). */
  readonly yLog?: boolean;
  /** Vertical markers with a label, e.g. events in a scenario. */
  readonly markers?: readonly { readonly x: number; readonly label: string }[];
}

export interface BarChartSpec {
  readonly title: string;
  readonly yLabel: string;
  /** Category labels along x; each series has one value per category. */
  readonly categories: readonly string[];
  readonly series: readonly { readonly name: string; readonly values: readonly number[] }[];
  readonly width?: number;
  readonly height?: number;
  /** Clip the axis here; taller bars are cut and labelled with their value. */
  readonly yMax?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
const M = { top: 40, right: 150, bottom: 50, left: 70 };

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Tick values from lo to hi at a 1-2-5 step, about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = ([1, 2, 5, 10].find((m) => (hi - lo) / (m * mag) <= count + 1) ?? 10) * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e3) return `${Number((v / 1e3).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}

function frame(w: number, h: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${w / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function legend(names: readonly string[], x: number, y: number): string[] {
  return names.flatMap((n, i) => [
    `<rect x="${x}" y="${y + i * 18}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`,
    `<text x="${x + 18}" y="${y + i * 18 + 11}">${escapeXml(n)}</text>`,
  ]);
}

export function lineChart(spec: LineChartSpec): string {
  const w = spec.width ?? 760;
  const h = spec.height ?? 360;
  const pw = w - M.left - M.right;
  const ph = h - M.top - M.bottom;
  const pts = spec.series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && (!spec.yLog || y > 0));
  const xs = pts.map(([x]) => x);
  const ys = pts.map(([, y]) => y);
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs) : 1;
  let y0 = spec.yLog ? Math.pow(10, Math.floor(Math.log10(ys.length ? Math.min(...ys) : 1))) : 0;
  let y1 = ys.length ? Math.max(...ys) : 1;
  if (spec.yLog) y1 = Math.pow(10, Math.ceil(Math.log10(y1)));
  if (!(y1 > y0)) y1 = y0 + 1;
  if (!spec.yLog) y1 = niceTicks(y0, y1 * 1.05).at(-1) ?? y1;
  y0 = Math.max(spec.yLog ? 1e-9 : -Infinity, y0);
  const sx = (x: number): number => M.left + (x1 > x0 ? ((x - x0) / (x1 - x0)) * pw : pw / 2);
  const sy = (y: number): number => M.top + ph - (spec.yLog ? (Math.log10(y) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0)) : (y - y0) / (y1 - y0)) * ph;
  const body: string[] = [];
  const yt = spec.yLog ? Array.from({ length: Math.round(Math.log10(y1 / y0)) + 1 }, (_, i) => y0 * Math.pow(10, i)) : niceTicks(y0, y1);
  for (const t of yt) {
    body.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#ddd"/>`);
    body.push(`<text x="${M.left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of niceTicks(x0, x1, 6)) {
    body.push(`<text x="${sx(t).toFixed(1)}" y="${M.top + ph + 18}" text-anchor="middle">${fmt(t)}</text>`);
  }
  body.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  for (const m of spec.markers ?? []) {
    const x = sx(m.x).toFixed(1);
    body.push(`<line x1="${x}" x2="${x}" y1="${M.top}" y2="${M.top + ph}" stroke="#999" stroke-dasharray="4 3"/>`);
    body.push(`<text x="${x}" y="${M.top + 12}" font-size="10" fill="#555" transform="rotate(90 ${x} ${M.top + 12})">${escapeXml(m.label)}</text>`);
  }
  spec.series.forEach((s, i) => {
    const d = s.points
      .filter(([, y]) => Number.isFinite(y) && (!spec.yLog || y > 0))
      .map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(Math.min(y, y1)).toFixed(1)}`)
      .join(' ');
    if (d) body.push(`<path d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.8"/>`);
  });
  body.push(`<text x="${M.left + pw / 2}" y="${h - 12}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`);
  body.push(`<text x="16" y="${M.top + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${M.top + ph / 2})">${escapeXml(spec.yLabel)}</text>`);
  body.push(...legend(spec.series.map((s) => s.name), M.left + pw + 14, M.top + 4));
  return frame(w, h, spec.title, body);
}

export function barChart(spec: BarChartSpec): string {
  const w = spec.width ?? 760;
  const h = spec.height ?? 360;
  const pw = w - M.left - M.right;
  const ph = h - M.top - M.bottom;
  const vals = spec.series.flatMap((s) => s.values).filter((v) => Number.isFinite(v));
  const top = spec.yMax ?? niceTicks(0, Math.max(1e-9, ...vals) * 1.05).at(-1) ?? 1;
  const sy = (v: number): number => M.top + ph - (Math.min(v, top) / top) * ph;
  const body: string[] = [];
  for (const t of niceTicks(0, top)) {
    body.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#ddd"/>`);
    body.push(`<text x="${M.left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`);
  }
  const groupW = pw / Math.max(1, spec.categories.length);
  const barW = (groupW * 0.8) / Math.max(1, spec.series.length);
  spec.categories.forEach((c, ci) => {
    const gx = M.left + ci * groupW + groupW * 0.1;
    spec.series.forEach((s, si) => {
      const v = s.values[ci] ?? NaN;
      if (!Number.isFinite(v)) return;
      const x = gx + si * barW;
      body.push(`<rect x="${x.toFixed(1)}" y="${sy(v).toFixed(1)}" width="${(barW * 0.92).toFixed(1)}" height="${(M.top + ph - sy(v)).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${escapeXml(`${s.name} ${c}: ${fmt(v)}`)}</title></rect>`);
      if (v > top) body.push(`<text x="${(x + barW * 0.46).toFixed(1)}" y="${M.top + 12}" text-anchor="middle" font-size="10" fill="white">${fmt(v)}</text>`);
    });
    body.push(`<text x="${(gx + groupW * 0.4).toFixed(1)}" y="${M.top + ph + 18}" text-anchor="middle">${escapeXml(c)}</text>`);
  });
  body.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  body.push(`<text x="16" y="${M.top + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${M.top + ph / 2})">${escapeXml(spec.yLabel)}</text>`);
  if (spec.series.length > 1) body.push(...legend(spec.series.map((s) => s.name), M.left + pw + 14, M.top + 4));
  return frame(w, h, spec.title, body);
}
