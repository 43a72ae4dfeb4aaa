// `node scripts/cpu-profile.mjs <dir|file.cpuprofile...> [--from us] [--to us] [--top N] [--incl fn,fn]`:
// sums the V8 CPU profiles of one process (main thread and workers, `node --cpu-prof`) over a
// window of monotonic time (the microseconds bench/headend.ts prints on its phase marks when
// profiled), and prints self time per function, then inclusive time for the named functions.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { takeOption } from './_args.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => takeOption(args, name, dflt);
const from = Number(opt('from', '0'));
const to = Number(opt('to', 'Infinity'));
const top = Number(opt('top', '30'));
const incl = (opt('incl', '') ?? '').split(',').filter((s) => s.length > 0);
if (args.length === 0) {
  console.error('usage: node scripts/cpu-profile.mjs <dir|file...> [--from us] [--to us] [--top N] [--incl fn,fn]');
  process.exit(2);
}
const files = args.flatMap((a) => (statSync(a).isDirectory() ? readdirSync(a).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(a, f)) : [a]));

/** A bundle held in memory (headend/portions/worker-bundle.ts, D116) runs from a data: URL: named
 *  by the source file its first line names, not by its whole base64 text. */
const dataNames = new Map();
function shortUrl(url) {
  if (url.startsWith('data:')) {
    let name = dataNames.get(url);
    if (name === undefined) {
      const head = Buffer.from(url.slice(url.indexOf(',') + 1, url.indexOf(',') + 161), 'base64').toString('utf8');
      name = `bundle:${/^\/\/ (\S+)/.exec(head)?.[1] ?? 'data'}`;
      dataNames.set(url, name);
    }
    return name;
  }
  return url.replace(/^.*\/(node_modules\/)/, '$1').replace(/^file:\/\/.*?\/(?=[a-z-]+\/[^/]+\.ts$)/, '');
}

const self = new Map();
const inclusive = new Map();
let busy = 0;
let idle = 0;
const perThread = [];
for (const file of files) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  let t = p.startTime;
  let threadBusy = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (t < from || t > to) continue;
    const next = i + 1 < p.timeDeltas.length ? (p.timeDeltas[i + 1] ?? 0) : 0;
    const ms = Math.max(0, next) / 1000; // the time this sample stands for
    const n = byId.get(p.samples[i]);
    const name = n.callFrame.functionName;
    if (name === '(idle)') {
      idle += ms;
      continue;
    }
    busy += ms;
    threadBusy += ms;
    const url = shortUrl(n.callFrame.url);
    const key = `${name || '(anonymous)'} ${url}${url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + ms);
    const seen = new Set();
    for (let x = p.samples[i]; x !== undefined; x = parent.get(x)) {
      const f = byId.get(x).callFrame.functionName;
      if (seen.has(f)) continue;
      seen.add(f);
      inclusive.set(f, (inclusive.get(f) ?? 0) + ms);
    }
  }
  perThread.push({ file: file.split('/').pop(), busyMs: Math.round(threadBusy) });
}
console.log(`${files.length} profiles, busy ${busy.toFixed(0)} ms, idle ${idle.toFixed(0)} ms in the window`);
for (const t of perThread.sort((a, b) => b.busyMs - a.busyMs)) console.log(`  ${t.file}: ${t.busyMs} ms`);
for (const [k, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((100 * ms) / busy).toFixed(1).padStart(5)}% ${ms.toFixed(0).padStart(6)} ms  ${k}`);
for (const f of incl) console.log(`inclusive ${f}: ${((100 * (inclusive.get(f) ?? 0)) / busy).toFixed(1)}% (${(inclusive.get(f) ?? 0).toFixed(0)} ms)`);
