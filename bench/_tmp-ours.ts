import { encodeManifest, generateSigningKey, sha256Hex, signManifest, trustedKey, utf8, verifyApp, type VerifiedModule } from '../runtime/app/index.ts';
import { AppSandbox, loadEngine } from '../sandbox/index.ts';
const engine = await loadEngine();
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
const N = Number(process.argv[2] ?? 20000);
const c0 = process.cpuUsage();
for (let i = 0; i < N; i++) {
  const app = new AppSandbox(engine, { app: 'bench', side: 'box', limits: { memoryBytes: 8 << 20, stackBytes: 256 << 10 } });
  const m = app.load(small);
  if (!m.ok || !m.value.start().ok) throw new Error('x');
  app.destroy();
}
const c = process.cpuUsage(c0);
console.log(((c.user + c.system) / N).toFixed(1), 'us per start');
