import type { QuickJSHandle } from 'quickjs-emscripten';
import { encodeManifest, generateSigningKey, sha256Hex, signManifest, trustedKey, utf8, verifyApp, type VerifiedModule } from '../runtime/app/index.ts';
import { AppSandbox, loadEngine } from '../sandbox/index.ts';
const engine = await loadEngine();
const qjs = engine.quickjs;
const SRC = `let n = 0;
weft.on('start', () => { n++; });
weft.on('request', (b) => ({ n, b }));
export function snapshot() { return { n }; }`;
const { key } = await generateSigningKey();
const b = utf8(SRC);
const manifest = encodeManifest({ app: 'bench', version: '1.0.0', modules: [{ name: 'small', kind: 'client', tier: 'boot', file: 'small.js', sha256: await sha256Hex(b), size: b.length, uses: [], needs: {} }] });
const r = await verifyApp({ manifest, signature: await signManifest(manifest, key), modules: new Map([['small', b]]), trusted: [await trustedKey(key.publicKey)] });
if (!r.ok) throw r.error;
const small = r.value.modules.get('small') as VerifiedModule;
const BASE_FNS = ['send', 'request', 'on', 'setTimeout', 'clearTimeout', 'address'];
function rawStart(): void {
  const rt = qjs.newRuntime(); rt.setMemoryLimit(8 << 20); rt.setMaxStackSize(256 << 10);
  let deadline = Infinity; rt.setInterruptHandler(() => performance.now() > deadline);
  const ctx = rt.newContext();
  const handlers = new Map<string, QuickJSHandle>();
  const weft = ctx.newObject();
  for (const name of BASE_FNS) { const f = ctx.newFunction(name, name === 'on' ? (k, fn) => void handlers.set(ctx.getString(k), fn.dup()) : () => undefined); ctx.setProp(weft, name, f); f.dispose(); }
  const self = ctx.newString('weft://bench/*/small'); ctx.setProp(weft, 'self', self); self.dispose();
  const object = ctx.getProp(ctx.global, 'Object'); const freeze = ctx.getProp(object, 'freeze');
  ctx.unwrapResult(ctx.callFunction(freeze, ctx.undefined, weft)).dispose(); freeze.dispose(); object.dispose();
  ctx.setProp(ctx.global, 'weft', weft); weft.dispose();
  deadline = performance.now() + 1000;
  const ns = ctx.unwrapResult(ctx.evalCode(SRC, 'bench/small.js', { type: 'module' }));
  ctx.unwrapResult(ctx.callFunction(handlers.get('start') as QuickJSHandle, ctx.undefined)).dispose();
  deadline = Infinity;
  for (const h of handlers.values()) h.dispose();
  ns.dispose(); ctx.dispose(); rt.dispose();
}
function oursStart(): void {
  const app = new AppSandbox(engine, { app: 'bench', side: 'box', limits: { memoryBytes: 8 << 20, stackBytes: 256 << 10 } });
  const m = app.load(small);
  if (!m.ok || !m.value.start().ok) throw new Error('x');
  app.destroy();
}
const N = 8000;
for (let i = 0; i < N; i++) { rawStart(); oursStart(); }
