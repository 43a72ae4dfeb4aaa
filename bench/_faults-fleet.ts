// The box side of bench/faults, in a process of its own (a fleet of devices/fleet.ts, as `weft
// fleet run` runs it): every box that is `up` asks the head-end's epg module every --ask-every ms,
// and the fate of each request is counted here, independently of the box's own ledger: answered,
// failed with an error the caller got (by code), late (either, more than a second past its
// deadline), or lost (neither, by the end of the run).
// Commands on stdin, one per line: `mark` (recovery is timed from now: each box's first answer
// to a request it sent after the mark), `cut <i>` (box i's return path goes silent: time to its
// dead-link verdict), `summary`, `stop`. Prints JSON lines; the last is {"event":"final",...}.

import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import { startFleet, parseMix, type EmulatedBox } from '../devices/index.ts';
import { loadTrusted } from '../loader/main.ts';
import { udpTuner } from '../loader/index.ts';
import { fleetRequests } from '../loader/request-ledger.ts';
import { derivedBoxSecret } from '../headend/broker/broker-auth.ts';
import { WeftError, codeName } from '../runtime/index.ts';
import { loadEngine } from '../sandbox/index.ts';
import { percentile } from './_report.ts';

const arg = (name: string, dflt?: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i < 0 ? dflt : process.argv[i + 1];
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
};
const URL_ = arg('url');
const MASTER = readFileSync(arg('master'), 'utf8').trim();
const COUNT = Number(arg('count'));
const ASK_EVERY = Number(arg('ask-every', '1000'));
const DEADLINE = Number(arg('deadline', '3000'));
const LOST_AFTER = DEADLINE + 1000;

const print = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const t0 = performance.now();
const now = (): number => performance.now() - t0;

// ---- silent cut ------------------------------------------------------------------------------
const cuts = new Map<number, number>();
const detected: { box: number; s: number; verdict: string }[] = [];
// The first dead-path verdicts, with what the box saw (on a healthy head-end each is a false one).
const verdicts: object[] = [];
// After a mark: when each box had its link back and its session ready again (where recovery goes).
let mark: number | undefined;
let linkBack = new Map<number, number>();
let sessionBack = new Map<number, number>();
function onBoxEvent(id: string, e: { kind: string; to?: string; event?: string; deadPath?: boolean; ms?: number; error?: string }): void {
  const dead = (e.kind === 'dial' && e.deadPath === true) || (e.kind === 'state' && e.event === 'link-dead');
  if (dead && verdicts.length < 20) verdicts.push({ box: id, s: Math.round(now()) / 1000, kind: e.kind, ...(e.ms === undefined ? {} : { ms: Math.round(e.ms) }), ...(e.error === undefined ? {} : { error: e.error }) });
  const i = Number(id.slice(id.lastIndexOf('-') + 1)) - 1; // box ids are <prefix>-<n>
  if (mark !== undefined && e.kind === 'state' && e.event === 'link-up' && !linkBack.has(i)) linkBack.set(i, now() - mark);
  if (mark !== undefined && e.kind === 'state' && e.event === 'session-ready' && !sessionBack.has(i)) sessionBack.set(i, now() - mark);
  if (!cuts.has(i) || e.kind !== 'state') return;
  if (e.event !== 'link-dead' && e.event !== 'link-down') return;
  detected.push({ box: i, s: (now() - (cuts.get(i) as number)) / 1000, verdict: e.event });
  cuts.delete(i);
  print({ event: 'cut-detected', ...(detected.at(-1) as object) });
}

const engine = await loadEngine();
const fleet = await startFleet({
  count: COUNT,
  mix: parseMix(arg('mix', 'legacy-sd:1,hd-dvr:1,modern-4k:1')),
  engine,
  tuner: udpTuner(arg('carousel')),
  trusted: await loadTrusted(arg('trust'), process.cwd()),
  headend: { url: URL_, password: (id) => derivedBoxSecret(MASTER, id) },
  prefix: arg('prefix', 'box'),
  staggerMs: Number(arg('stagger', '10')),
  onEvent: (id, e) => onBoxEvent(id, e),
});
const boxes = fleet.boxes;
print({ event: 'started', boxes: boxes.length, s: now() / 1000 });

// ---- requests and their fates ---------------------------------------------------------------
// ok / failed (by code) / late (heard, but more than a second past its deadline: this process's
// loop was that far behind) / lost (never heard at all, counted at the end: `open` after the wait).
const fate = { asked: 0, ok: 0, failed: {} as Record<string, number>, late: 0, lost: 0, open: 0 };
let recovered = new Map<number, number>();
let asking = ASK_EVERY > 0;

function ask(i: number, b: EmulatedBox): void {
  const at = now();
  fate.asked++;
  fate.open++;
  const settle = (): void => {
    fate.open--;
    if (now() - at > LOST_AFTER) fate.late++;
  };
  b.box.ask('epg', { op: 'channels' }, DEADLINE).then(
    () => {
      settle();
      fate.ok++;
      if (mark !== undefined && at >= mark && !recovered.has(i)) recovered.set(i, now() - mark);
    },
    (e: unknown) => {
      settle();
      const code = e instanceof WeftError ? codeName(e.code) : 'OTHER';
      fate.failed[code] = (fate.failed[code] ?? 0) + 1;
    },
  );
}

// Each box on its own jittered beat, so the fleet does not ask in lockstep.
const beats = boxes.map((b, i) =>
  setTimeout(function beat() {
    if (!asking) return;
    if (b.box.state === 'up') ask(i, b);
    beats[i] = setTimeout(beat, ASK_EVERY * (0.75 + Math.random() * 0.5));
  }, Math.random() * Math.max(1, ASK_EVERY)),
);

// ---- summaries --------------------------------------------------------------------------------
function summary(kind: string): object {
  let deadPaths = 0;
  let deadLinks = 0;
  let lateAdopted = 0;
  let undone = 0;
  const overdueAt: Record<string, number> = {};
  for (const b of boxes) {
    const sw = b.box.stats().switch as { overdueAt?: Record<string, number> } | undefined;
    for (const [k, v] of Object.entries(sw?.overdueAt ?? {})) overdueAt[k] = (overdueAt[k] ?? 0) + v;
    const ch = b.box.stats().channel as { deadPaths?: number; deadLinks?: number; lateAdopted?: number; deadPathsUndone?: number } | undefined;
    deadPaths += ch?.deadPaths ?? 0;
    deadLinks += ch?.deadLinks ?? 0;
    lateAdopted += ch?.lateAdopted ?? 0;
    undone += ch?.deadPathsUndone ?? 0;
  }
  const times = [...recovered.values()];
  return {
    event: kind,
    s: Math.round(now()) / 1000,
    boxes: boxes.length,
    states: fleet.states(),
    fate,
    ledger: fleetRequests(boxes.map((b) => b.box)),
    overdueAt,
    recovered: mark === undefined ? null : { n: times.length, p50_s: percentile(times, 50) / 1000, p99_s: percentile(times, 99) / 1000, max_s: Math.max(0, ...times) / 1000 },
    phases: mark === undefined ? null : { link_p99_s: percentile([...linkBack.values()], 99) / 1000, links: linkBack.size, session_p99_s: percentile([...sessionBack.values()], 99) / 1000, sessions: sessionBack.size },
    // dial: every dial verdict given; undone: those on a connection that came up after all (its late
    // CONNACK adopted, issue 13.4), on lateAdopted connections. On a healthy head-end every verdict is
    // false; dial - undone of them stayed wrong (the box went on as if the path were dead).
    falseDeadPaths: { dial: deadPaths, link: deadLinks, undone, lateAdopted },
    cuts: detected,
    verdicts,
  };
}

// ---- counters held by sessions (node death): guide/search counts the queries it answered ------
const SEARCH = { op: 'search', q: 'news' };

/** Every up box sends `k` searches, one after another; each answered one is an acknowledged update. */
async function updates(k: number): Promise<{ i: number; node: string | undefined; session: string | undefined; acked: number }[]> {
  return Promise.all(
    boxes.map(async (b, i) => {
      let acked = 0;
      for (let n = 0; n < k && b.box.state === 'up'; n++) acked += await b.box.ask('search', SEARCH, 5000).then(() => 1, () => 0);
      return { i, node: b.box.session?.node, session: b.box.session?.session, acked };
    }),
  );
}

/** Each box's search count as its (possibly re-placed or re-opened) session answers it, within 60 s. */
async function readCounters(): Promise<{ i: number; node: string | undefined; session: string | undefined; queries: number | null }[]> {
  return Promise.all(
    boxes.map(async (b, i) => {
      const until = now() + 60_000;
      while (now() < until) {
        const r = (await b.box.ask('search', { op: 'stats' }, 3000).catch(() => undefined)) as { queries?: unknown } | undefined;
        if (typeof r?.queries === 'number') return { i, node: b.box.session?.node, session: b.box.session?.session, queries: r.queries };
        await new Promise((res) => setTimeout(res, 500));
      }
      return { i, node: b.box.session?.node, session: b.box.session?.session, queries: null };
    }),
  );
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const [cmd, a] = line.trim().split(/\s+/);
  if (cmd === 'mark') {
    mark = now();
    recovered = new Map();
    linkBack = new Map();
    sessionBack = new Map();
  } else if (cmd === 'cut') {
    const i = Number(a);
    const b = boxes[i];
    if (b?.path === undefined) print({ event: 'error', message: `box ${a} has no return path to cut` });
    else {
      cuts.set(i, now());
      b.path.setMode('dead');
    }
  } else if (cmd === 'updates') {
    print({ event: 'updates', boxes: await updates(Number(a)) });
  } else if (cmd === 'read') {
    print({ event: 'read', boxes: await readCounters() });
  } else if (cmd === 'summary') {
    print(summary('summary'));
  } else if (cmd === 'stop') {
    asking = false;
    for (const t of beats) clearTimeout(t);
    // Every request has a deadline: wait well past the last one, then whatever is open is lost.
    const until = now() + LOST_AFTER + 10_000;
    while (fate.open > 0 && now() < until) await new Promise((r) => setTimeout(r, 50));
    fate.lost = fate.open;
    print(summary('final'));
    await Promise.race([fleet.stop(), new Promise((r) => setTimeout(r, 10_000))]);
    process.exit(0);
  }
}
