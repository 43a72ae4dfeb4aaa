// `node scripts/long-turns.mjs <file.cpuprofile> [--over ms] [--top N]`: the loop turns of one
// thread's V8 CPU profile (a turn: samples between two `(idle)` ones) longer than --over (10 ms),
// each with its length, its GC share and its three heaviest functions by self time; then the self
// time summed over those turns only, and each long turn's "entry" (the outermost JS frame under
// the root: a timer, an I/O callback, a message) summed. On a shared machine a turn's wall time
// includes time the OS gave other processes: the sample stands on whatever was on the stack, and
// the first line counts the busy samples that stand for over 5 ms (the profiler samples each ~1 ms).
import { readFileSync } from 'node:fs';
import { takeOption } from './_args.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => takeOption(args, name, dflt);
const over = Number(opt('over', '10'));
const top = Number(opt('top', '25'));
if (args.length !== 1) {
  console.error('usage: node scripts/long-turns.mjs <file.cpuprofile> [--over ms] [--top N]');
  process.exit(2);
}
const p = JSON.parse(readFileSync(args[0], 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const where = (n) => {
  const url = n.callFrame.url.replace(/^.*\/(node_modules\/)/, '$1').replace(/^file:\/\/.*?\/(?=[a-z-]+\/[^/]+\.ts$)/, '');
  return `${n.callFrame.functionName || '(anonymous)'} ${url}${url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
};
/** The outermost frame below (root): what the loop called to start this stack. */
const entry = (id) => {
  let x = id;
  while (parent.has(x) && byId.get(parent.get(x)).callFrame.functionName !== '(root)') x = parent.get(x);
  return where(byId.get(x));
};

const turns = [];
let cur;
let t = p.startTime;
let busy = 0;
let gaps = 0; // samples that stand for more than 5 ms: the thread was not sampled (the OS ran something else, or a pause)
let gapMs = 0;
let gapGcMs = 0;
for (let i = 0; i < p.samples.length; i++) {
  t += p.timeDeltas[i] ?? 0;
  const ms = Math.max(0, p.timeDeltas[i + 1] ?? 0) / 1000; // the time this sample stands for
  const n = byId.get(p.samples[i]);
  if (n.callFrame.functionName === '(idle)') {
    if (cur !== undefined) turns.push(cur);
    cur = undefined;
    continue;
  }
  busy += ms;
  if (ms > 5) (gaps++, (gapMs += ms), (gapGcMs += n.callFrame.functionName === '(garbage collector)' ? ms : 0));
  cur ??= { at: t, ms: 0, gc: 0, self: new Map(), entries: new Map() };
  cur.ms += ms;
  if (n.callFrame.functionName === '(garbage collector)') cur.gc += ms;
  const k = where(n);
  cur.self.set(k, (cur.self.get(k) ?? 0) + ms);
  const e = entry(p.samples[i]);
  cur.entries.set(e, (cur.entries.get(e) ?? 0) + ms);
}
if (cur !== undefined) turns.push(cur);
const long = turns.filter((x) => x.ms > over);
const heaviest = (m, n) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
console.log(`${turns.length} turns, busy ${busy.toFixed(0)} ms over ${((t - p.startTime) / 1000).toFixed(0)} ms; ${long.length} turns over ${over} ms: ${sum(long.map((x) => x.ms)).toFixed(0)} ms, GC in them ${sum(long.map((x) => x.gc)).toFixed(0)} ms; ${gaps} busy samples standing for over 5 ms each (${gapMs.toFixed(0)} ms, ${gapGcMs.toFixed(0)} ms of it on GC: the thread unsampled, e.g. descheduled)`);
for (const x of long.sort((a, b) => b.ms - a.ms).slice(0, top)) {
  console.log(`  +${((x.at - p.startTime) / 1000).toFixed(0)} ms: ${x.ms.toFixed(1)} ms (GC ${x.gc.toFixed(1)}): ${heaviest(x.self, 3).map(([k, ms]) => `${k} ${ms.toFixed(1)}`).join('; ')}`);
}
const self = new Map();
const entries = new Map();
for (const x of long) {
  for (const [k, ms] of x.self) self.set(k, (self.get(k) ?? 0) + ms);
  for (const [k, ms] of x.entries) entries.set(k, (entries.get(k) ?? 0) + ms);
}
console.log('self time in the long turns:');
for (const [k, ms] of heaviest(self, top)) console.log(`  ${ms.toFixed(1).padStart(8)} ms  ${k}`);
console.log('entries of the long turns:');
for (const [k, ms] of heaviest(entries, top)) console.log(`  ${ms.toFixed(1).padStart(8)} ms  ${k}`);
