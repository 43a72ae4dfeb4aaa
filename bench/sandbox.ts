// bench/sandbox: the sandbox against raw quickjs-emscripten doing the same work, in one process.
//  1. module start: runtime + context + a `weft` with the same functions + eval of a small module
//     (one that names no typed array: its context has none, D63; `typed_start_ratio_vs_raw` is a
//     module that names one, with every intrinsic as in raw's default context)
//     + its start handler, then disposal; ours is AppSandbox + load + start + destroy.
//  2. memory per module sandbox: QuickJS heap per extra module in one app runtime.
//  3. host call: a guest loop of weft.send(addr, body) against a raw newFunction that reads the
//     same two arguments; ours adds the address parse, size checks, budget and the link call.
import type { QuickJSHandle } from 'quickjs-emscripten';
import { encodeManifest, generateSigningKey, sha256Hex, signManifest, trustedKey, utf8, verifyApp, type VerifiedModule } from '../runtime/app/index.ts';
import { AppSandbox, loadEngine, WarmRuntime } from '../sandbox/index.ts';
import { HandleLedger } from '../sandbox/ledger.ts';
import { percentile, result, table } from './_report.ts';

const engine = await loadEngine();
const qjs = engine.quickjs;
const MEMORY = 8 * 1024 * 1024;
const STACK = 256 * 1024;
const SRC = `let n = 0;
weft.on('start', () => { n++; });
weft.on('request', (b) => ({ n, b }));
export function snapshot() { return { n }; }`;
const LOOP = `weft.on('request', (count) => { for (let i = 0; i < count; i++) weft.send('weft://bench/s1/sink', { q: 'news', i }); return count; });`;
const BASE_FNS = ['send', 'request', 'on', 'setTimeout', 'clearTimeout', 'address'];

async function verified(sources: Record<string, string>): Promise<Map<string, VerifiedModule>> {
  const { key } = await generateSigningKey();
  const bytes = new Map(Object.entries(sources).map(([n, s]) => [n, utf8(s)]));
  const modules = [];
  for (const [name, b] of bytes) modules.push({ name, kind: 'client' as const, tier: 'boot' as const, file: `${name}.js`, sha256: await sha256Hex(b), size: b.length, uses: [], needs: {} });
  const manifest = encodeManifest({ app: 'bench', version: '1.0.0', modules });
  const r = await verifyApp({ manifest, signature: await signManifest(manifest, key), modules: bytes, trusted: [await trustedKey(key.publicKey)] });
  if (!r.ok) throw r.error;
  return new Map(r.value.modules);
}
const mods = await verified({ small: SRC, loop: LOOP, logs: `${SRC}\n// logs: console.log`, warm: SRC, typed: `${SRC}\n// keeps bytes in a Uint8Array` });
const small = mods.get('small') as VerifiedModule;

// ---- 1. module start -------------------------------------------------------------------

function rawStart(): void {
  const rt = qjs.newRuntime();
  rt.setMemoryLimit(MEMORY);
  rt.setMaxStackSize(STACK);
  let deadline = Infinity;
  rt.setInterruptHandler(() => performance.now() > deadline);
  const ctx = rt.newContext();
  const handlers = new Map<string, QuickJSHandle>();
  const weft = ctx.newObject();
  for (const name of BASE_FNS) {
    const f = ctx.newFunction(name, name === 'on' ? (k, fn) => void handlers.set(ctx.getString(k), fn.dup()) : () => undefined);
    ctx.setProp(weft, name, f);
    f.dispose();
  }
  const self = ctx.newString('weft://bench/*/small');
  ctx.setProp(weft, 'self', self);
  self.dispose();
  // The same object semantics as ours: a frozen API object.
  const object = ctx.getProp(ctx.global, 'Object');
  const freeze = ctx.getProp(object, 'freeze');
  ctx.unwrapResult(ctx.callFunction(freeze, ctx.undefined, weft)).dispose();
  freeze.dispose();
  object.dispose();
  ctx.setProp(ctx.global, 'weft', weft);
  weft.dispose();
  deadline = performance.now() + 1000;
  const ns = ctx.unwrapResult(ctx.evalCode(SRC, 'bench/small.js', { type: 'module' }));
  ctx.unwrapResult(ctx.callFunction(handlers.get('start') as QuickJSHandle, ctx.undefined)).dispose();
  deadline = Infinity;
  for (const h of handlers.values()) h.dispose();
  ns.dispose();
  ctx.dispose();
  rt.dispose();
}

function oursStart(): void {
  const app = new AppSandbox(engine, { app: 'bench', side: 'box', limits: { memoryBytes: MEMORY, stackBytes: STACK } });
  const m = app.load(small);
  if (!m.ok || !m.value.start().ok) throw new Error('the bench module did not start');
  app.destroy();
}

/** CPU microseconds per call of `fn`, over one batch: CPU time, not wall time, so other
 *  processes on a shared machine do not land in either column. */
function cpuPerCall(fn: () => void, batch: number): number {
  const c0 = process.cpuUsage();
  for (let i = 0; i < batch; i++) fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / batch;
}

/** Alternate batches of a and b; the medians of both. */
function interleaved(a: () => void, b: () => void, batch: number, rounds: number): [number, number] {
  for (let i = 0; i < batch * 10; i++) {
    a();
    b();
  }
  const sa: number[] = [];
  const sb: number[] = [];
  for (let r = 0; r < rounds; r++) {
    sa.push(cpuPerCall(a, batch));
    sb.push(cpuPerCall(b, batch));
  }
  return [percentile(sa, 50), percentile(sb, 50)];
}

const [rawUs, oursUs] = interleaved(rawStart, oursStart, 20, 100);

// ---- 1b. what each guarantee costs (issue 19.2) ------------------------------------------

/** Median CPU us per call of `fn` over rounds of `batch`, with `setup` (untimed) before each round. */
function perCall(fn: (i: number) => void, batch = 20, rounds = 60, setup?: () => void): number {
  const xs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    setup?.();
    const c0 = process.cpuUsage();
    for (let i = 0; i < batch; i++) fn(i);
    const c = process.cpuUsage(c0);
    xs.push((c.user + c.system) / batch);
  }
  return percentile(xs.slice(5), 50);
}
const startOf = (mod: VerifiedModule, warm?: WarmRuntime): void => {
  const app = new AppSandbox(engine, { app: 'bench', side: 'box', limits: { memoryBytes: MEMORY, stackBytes: STACK }, ...(warm === undefined ? {} : { warm }) });
  const m = app.load(mod);
  if (!m.ok || !m.value.start().ok) throw new Error('the bench module did not start');
  app.destroy();
};
let warmed: WarmRuntime[] = [];
const warmStartUs = perCall((i) => startOf(mods.get('warm') as VerifiedModule, warmed[i]), 20, 60, () => (warmed = Array.from({ length: 20 }, () => new WarmRuntime(engine, 1))));
const logStartUs = perCall(() => startOf(mods.get('logs') as VerifiedModule));
// A module that names a typed array gets every intrinsic, as raw's default context has (D63):
// measured against raw the same way, in a run of its own.
const typedStart = (): void => startOf(mods.get('typed') as VerifiedModule);
const [rawTypedUs, typedUs] = interleaved(rawStart, typedStart, 20, 50);
const typedStartUs = perCall(typedStart);
const plainStartUs = perCall(() => startOf(small));
const probeRt = qjs.newRuntime();
const probeCtx = probeRt.newContext();
const intrinsicsUs = perCall(() => {
  for (const [o, p] of [['JSON', 'parse'], ['Object', 'freeze']] as const) {
    const h = probeCtx.getProp(probeCtx.global, o);
    probeCtx.getProp(h, p).dispose();
    h.dispose();
  }
}, 200);
const interruptUs = perCall(() => {
  probeRt.setInterruptHandler(() => false);
  probeRt.removeInterruptHandler();
}, 200);
const cpuReadUs = perCall(() => void process.cpuUsage(), 200);
const ledger = new HandleLedger();
const ledgerUs = perCall(() => {
  const h = probeCtx.newNumber(1);
  ledger.release(ledger.hold(h));
}, 200) - perCall(() => probeCtx.newNumber(1).dispose(), 200);
probeCtx.dispose();
probeRt.dispose();

// ---- 2. memory per module sandbox --------------------------------------------------------

const N = 40;
const memApp = new AppSandbox(engine, { app: 'bench', side: 'box', limits: { memoryBytes: 64 * 1024 * 1024 } });
const first = memApp.load(small);
if (!first.ok) throw first.error;
const before = memApp.memoryUsed() ?? 0;
for (let i = 0; i < N; i++) {
  const extra = (await verified({ [`m${i}`]: SRC })).get(`m${i}`) as VerifiedModule;
  const r = memApp.load(extra);
  if (!r.ok || !r.value.start().ok) throw new Error('a module did not start');
}
const kbPerSandbox = ((memApp.memoryUsed() ?? 0) - before) / N / 1024;
memApp.destroy();

const rawRt = qjs.newRuntime();
const rawCtxs = [rawRt.newContext()];
const usage = (): number => {
  const h = rawRt.computeMemoryUsage();
  const v = (rawCtxs[0]?.dump(h) as { memory_used_size: number }).memory_used_size;
  h.dispose();
  return v;
};
const rawBefore = usage();
for (let i = 0; i < N; i++) {
  const c = rawRt.newContext();
  c.unwrapResult(c.evalCode(SRC.replaceAll('weft.on', 'globalThis.on = () => {}; globalThis.on'), 'm.js', { type: 'module' })).dispose();
  rawCtxs.push(c);
}
const rawKb = (usage() - rawBefore) / N / 1024;
for (const c of rawCtxs) c.dispose();
rawRt.dispose();

// ---- 3. host call round trip -------------------------------------------------------------

const CALLS = 5000;
let sink = 0;
const callApp = new AppSandbox(engine, { app: 'bench', side: 'box', session: 's1', limits: { deadlineMs: 10_000 } });
const loop = callApp.load(mods.get('loop') as VerifiedModule, { link: { send: () => Promise.resolve(void sink++), request: () => Promise.resolve(null) } });
if (!loop.ok) throw loop.error;
loop.value.start();

const rt3 = qjs.newRuntime();
const ctx3 = rt3.newContext();
const rawSend = ctx3.newFunction('send', (a, b) => {
  const addr = ctx3.dump(a) as string;
  const body = ctx3.dump(b) as unknown;
  if (addr !== undefined && body !== undefined) sink++;
});
const w3 = ctx3.newObject();
ctx3.setProp(w3, 'send', rawSend);
ctx3.setProp(ctx3.global, 'weft', w3);
rawSend.dispose();
w3.dispose();
const rawLoop = ctx3.unwrapResult(ctx3.evalCode(`(count) => { for (let i = 0; i < count; i++) weft.send('weft://bench/s1/sink', { q: 'news', i }); return count; }`));
const count = ctx3.newNumber(CALLS);
const from = { queue: 'bench' };

const rawCall = (): void => ctx3.unwrapResult(ctx3.callFunction(rawLoop, ctx3.undefined, count)).dispose();
let pending: Promise<unknown> = Promise.resolve();
const oursCall = (): void => {
  pending = loop.value.serve(CALLS, from);
};
const hs: [number[], number[]] = [[], []];
for (let r = 0; r < 30; r++) {
  for (const [i, fn] of [rawCall, oursCall].entries()) {
    const c0 = process.cpuUsage();
    fn();
    if (i === 1) await pending;
    const c = process.cpuUsage(c0);
    (hs[i] as number[]).push((c.user + c.system) / CALLS);
  }
}
const rawCallUs = percentile(hs[0].slice(5), 50);
const oursCallUs = percentile(hs[1].slice(5), 50);
count.dispose();
rawLoop.dispose();
ctx3.dispose();
rt3.dispose();
callApp.destroy();

table('module start (median CPU per start, us)', [
  { case: 'raw quickjs-emscripten: runtime, limits, interrupt, context, same frozen weft, eval, start', us: rawUs },
  { case: 'AppSandbox + load + start + destroy', us: oursUs },
]);
table('what each guarantee costs (median CPU us; a start as above)', [
  { case: 'deadline interrupt: set + remove the handler, per runtime', us: interruptUs },
  { case: 'starvation check: one CPU reading (now one per ms per thread, not per event)', us: cpuReadUs },
  { case: 'handle bookkeeping: ledger hold + release, per kept handle', us: ledgerUs },
  { case: 'intrinsics capture: JSON.parse + Object.freeze taken, per context', us: intrinsicsUs },
  { case: 'weft.log + console install: start of a module naming them less one that does not', us: logStartUs - plainStartUs },
  { case: 'runtime + context made ahead (warm): a start adopting one, vs raw', us: warmStartUs },
  { case: 'typed arrays (and WeakRef): start of a module naming Uint8Array less one that does not', us: typedStartUs - plainStartUs },
]);
table('memory per module sandbox (QuickJS heap, KB)', [
  { case: `raw context + eval, ${N} in one runtime`, kb: rawKb },
  { case: `module in an app sandbox (context, weft, module), ${N} in one app`, kb: kbPerSandbox },
]);
table(`host call round trip (median CPU per call over ${CALLS}-call loops, us)`, [
  { case: 'raw newFunction reading both arguments with dump()', us: rawCallUs },
  { case: 'weft.send: address, JSON size, budgets, link.send', us: oursCallUs },
]);
console.log(`\nengine: WebAssembly memory cap ${engine.maxMemoryBytes >> 20} MiB; raw and ours share it.`);
result('sandbox', {
  start_ratio_vs_raw: oursUs / rawUs,
  warm_start_ratio_vs_raw: warmStartUs / rawUs,
  log_install_us: logStartUs - plainStartUs,
  // The same start for a module whose text names a typed array: every intrinsic, like raw's context.
  typed_start_ratio_vs_raw: typedUs / rawTypedUs,
  kb_per_sandbox: kbPerSandbox,
  hostcall_ratio_vs_raw: oursCallUs / rawCallUs,
});
