import { encodeManifest, generateSigningKey, sha256Hex, signManifest, trustedKey, utf8, verifyApp, type VerifiedModule } from '../runtime/app/index.ts';
import { AppSandbox, loadEngine } from '../sandbox/index.ts';
// @ts-ignore
import { AppSandbox as OldSandbox } from '/tmp/base/sandbox/index.ts';
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
const run = (C: typeof AppSandbox) => () => { const app = new C(engine, { app: 'bench', side: 'box', limits: { memoryBytes: 8 << 20, stackBytes: 256 << 10 } }); const m = app.load(small); if (!m.ok || !m.value.start().ok) throw new Error('x'); app.destroy(); };
const a = run(OldSandbox as typeof AppSandbox), n = run(AppSandbox);
const cpu = (f: () => void, k: number) => { const c0 = process.cpuUsage(); for (let i = 0; i < k; i++) f(); const c = process.cpuUsage(c0); return (c.user + c.system) / k; };
for (let i = 0; i < 200; i++) { a(); n(); }
const sa: number[] = [], sn: number[] = [];
for (let r = 0; r < 40; r++) { sa.push(cpu(a, 20)); sn.push(cpu(n, 20)); }
const med = (x: number[]) => x.sort((p, q) => p - q)[x.length >> 1] as number;
console.log(`old ${med(sa).toFixed(1)} us, new ${med(sn).toFixed(1)} us, new/old ${(med(sn) / med(sa)).toFixed(3)}`);
