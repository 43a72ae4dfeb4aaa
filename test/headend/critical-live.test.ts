// Critical portions on a real node [c20-c24, c27-c29]: requests to a module that declares a
// critical section run inside a wait-and-lock shared by its instances on every worker thread,
// waits from each request's arrival reach the node's statistics, and a shared portion's threads
// grow under load and shrink after it.
import test from 'ava';
import { Channel, formatVaddr, type Envelope } from '../../runtime/index.ts';
import { WaitTargetController } from '../../policy/index.ts';
import { createUdpTransport } from '../../transport/index.ts';
import { signedApp, type ModuleSpec } from '../_helpers/apps.ts';
import { memoryRegistry, testNode } from '../_helpers/headend.ts';

// A store whose requests hold the section for `hold` ms (a database call) after `cpu` ms of work,
// and a front that works `cpu` ms outside the section before calling it, within the box's own
// 20 s deadline (the default 5 s cut the front under the stress hog while the box still waited).
const SPIN = `function spin(ms) { const end = Date.now() + ms; while (Date.now() < end) {} }`;
function app(critical: ModuleSpec['critical']): ModuleSpec[] {
  return [
    { name: 'store', kind: 'server', critical, source: `${SPIN}
      weft.on('request', (b) => new Promise((resolve) => { const s = Date.now(); spin(b.cpu || 0);
        weft.setTimeout(() => resolve({ s, e: Date.now() }), b.hold || 0); }));` },
    { name: 'front', kind: 'server', source: `${SPIN}
      weft.on('request', async (b) => { spin(b.cpu || 0); return weft.request({ vaddr: 'weft://crit/*/store' }, b, { timeout: 20000 }); });` },
  ];
}

async function boxClient() {
  const t = await createUdpTransport({ host: '127.0.0.1', port: 0 });
  const ch = new Channel({ self: { vaddr: 'weft://box/b1/inbox', udp: t.address.udp as { host: string; port: number } }, write: (e: Envelope) => t.send(e), timeoutMs: 20_000 });
  t.onEnvelope((e) => ch.receive(e));
  return { t, ch };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Resolve when `done(size)` holds for the group's instance count; reject when `ticksPerStep`
 * controller ticks (a new decision each) pass without the count changing. Ticks, not wall time:
 * 15 s ran out under the stress hog; a starved process ticks less often, and the controller reads
 * the clock, so its holds still pass in fewer ticks. At 50 ms ticks and a 300 ms hold a step of
 * the shrink takes about 6 ticks plus the retirement.
 */
async function steps(group: () => { members: readonly string[]; last: unknown } | undefined, done: (size: number) => boolean, ticksPerStep: number, what: string): Promise<void> {
  let last = group()?.last;
  let size = group()?.members.length ?? 0;
  let ticks = 0;
  while (!done(size)) {
    await new Promise((r) => setTimeout(r, 5));
    const g = group();
    if (g === undefined) continue; // not yet formed: ava's timeout bounds the wait
    if (g.last !== last) {
      last = g.last;
      ticks++;
    }
    if (g.members.length !== size) {
      size = g.members.length;
      ticks = 0;
    }
    if (ticks > ticksPerStep) throw new Error(`${what}: no instance added or retired in ${ticksPerStep} controller ticks (still ${size})`);
  }
}

/** Most intervals [s, e) open at once. */
function maxOverlap(xs: { s: number; e: number }[]): number {
  const ev = xs.flatMap((x) => [[x.s, 1], [x.e, -1]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let n = 0;
  let m = 0;
  for (const [, d] of ev) m = Math.max(m, (n += d));
  return m;
}

for (const [critical, permits] of [[{ guard: 'queue' }, 1], [{ guard: 'semaphore', permits: 2 }, 2]] as const) {
  test(`[c21-c23] a ${critical.guard} guards the section across worker threads: at most ${permits} inside, waits reach the statistics`, async (t) => {
    const { pub, trusted } = await signedApp('crit', app(critical));
    const registry = memoryRegistry();
    // A fixed controller keeps the portion at four instances, each on its own thread.
    const node = await testNode({ id: 'n1', registry, apps: [pub], trusted, pool: { spare: 3, max: 8 }, elastic: { controller: () => new WaitTargetController({ minWorkers: 4, maxWorkers: 4 }) } });
    const box = await boxClient();
    try {
      const started = await node.startPortion('crit', '*', ['store', 'front']);
      if (!started.ok) return t.fail(started.error.message);
      const store = formatVaddr({ app: 'crit', session: '*', module: 'store' });
      await steps(() => node.elastic.group(store), (n) => n === 4, 200, 'four instances');
      t.deepEqual(node.portions.threadStats().map((x) => x.instances), [1, 1, 1, 1], 'one instance per thread');
      const got = (await Promise.all(Array.from({ length: 24 }, () => box.ch.request({ vaddr: store, udp: node.udpAddress }, { hold: 15 })))) as { s: number; e: number }[];
      t.is(maxOverlap(got), permits, 'never more holders than permits, and the permits are used');
      // Each request's wait from its arrival on the node [c24]: with 24 at once, the last waits for most of the others.
      const ps = node.elastic.portionStats().find((p) => p.vaddr === store);
      t.truthy(ps);
      t.is(ps?.served, 24);
      t.is(ps?.workers, 4);
      t.true((ps?.waitEwmaMs ?? 0) > 5, `ewma ${ps?.waitEwmaMs}`);
      // The workers' reports carry the percentiles (every 500 ms) and the node's report the worst wait.
      await until(() => (node.elastic.portionStats().find((p) => p.vaddr === store)?.waitP99Ms ?? 0) >= (15 * 24) / permits / 2, 3000, 'p99 from the workers');
      await until(() => (node.statistics.last?.portions.find((p) => p.vaddr === store)?.served ?? 0) === 24, 3000, 'in the node report');
      t.true((node.statistics.last?.waitMs ?? 0) > 0);
      // The front works outside the section and reaches the store through the node: still one section.
      const via = (await Promise.all(Array.from({ length: 8 }, () => box.ch.request({ vaddr: formatVaddr({ app: 'crit', session: '*', module: 'front' }), udp: node.udpAddress }, { hold: 10, cpu: 1 })))) as { s: number; e: number }[];
      t.is(maxOverlap(via), permits);
    } finally {
      await box.t.close();
      await node.close();
      await registry.close();
    }
  });
}

// That the added threads bring the wait down is the controller's property, shown deterministically
// in test/sim/threads.test.ts; a wall-clock ratio here failed on a loaded machine (issue 14
// finding 3). This test checks the live loop's actions, waiting on counts, not on time.
test('[c20, c27] under load the node adds worker threads and keeps serving; when the load stops it shrinks', async (t) => {
  const { pub, trusted } = await signedApp('crit', app({ guard: 'semaphore', permits: 8 }));
  const registry = memoryRegistry();
  const node = await testNode({
    id: 'n1', registry, apps: [pub], trusted, pool: { spare: 4, max: 10 },
    elastic: { controller: (_v, max) => new WaitTargetController({ targetWaitMs: 20, holdMs: 300, maxWorkers: max }) },
  });
  const box = await boxClient();
  const front = formatVaddr({ app: 'crit', session: '*', module: 'front' });
  const store = formatVaddr({ app: 'crit', session: '*', module: 'store' });
  try {
    const started = await node.startPortion('crit', '*', ['store', 'front']);
    if (!started.ok) return t.fail(started.error.message);
    // Eight clients in a closed loop: one instance serves them one at a time (about 8 x 21 ms of wait each).
    let running = true;
    let served = 0;
    let afterGrowth: (() => void) | undefined;
    const clients = Array.from({ length: 8 }, async () => {
      while (running) {
        await box.ch.request({ vaddr: front, udp: node.udpAddress }, { hold: 20, cpu: 1 });
        served++;
        afterGrowth?.();
      }
    });
    await steps(() => node.elastic.group(store), (n) => n >= 4, 200, 'threads added');
    const peak = () => node.elastic.group(store)?.members.length ?? 0;
    // Keep the load for 80 more requests on the grown portion (a count, not a time), then stop.
    const target = served + 80;
    await new Promise<void>((resolve) => (afterGrowth = () => served >= target && resolve()));
    running = false;
    await Promise.all(clients);
    const grown = peak();
    t.true(grown >= 4, `grew to ${grown}`);
    const ps = node.elastic.portionStats().find((x) => x.vaddr === store);
    t.true((ps?.served ?? 0) >= target, `served ${ps?.served}`);
    // Calm: one instance goes per hold time, down to the first one. Measured in the controller's
    // ticks, not wall time: 15 s of wall time ran out under the stress hog (a starved process
    // ticks less often; the controller reads the clock, so the hold still passes in fewer ticks).
    await steps(() => node.elastic.group(store), (n) => n === 1, 200, 'shrunk to one');
    // The last retired instance drains and stops; then its thread goes back.
    await until(() => node.portions.threads === 1, 5000, 'the added threads went back to the pool');
    t.is(node.portions.threads, 1);
    const after = (await box.ch.request({ vaddr: front, udp: node.udpAddress }, { hold: 1 })) as { s: number; e: number };
    t.true(after.e >= after.s, 'still served');
  } finally {
    await box.t.close();
    await node.close();
    await registry.close();
  }
});
