// app.json hygiene at build time (issue 16): budgets parse or fail by name, `tier` only where a
// module can travel on the carousel, and modules are typechecked before esbuild strips types.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { parseBudget, sourceManifest, typecheckApp } from '../../scripts/app-source.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;

const made: string[] = [];
test.after.always(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function appDir(modules: unknown[], files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-app-'));
  made.push(dir);
  writeFileSync(join(dir, 'app.json'), JSON.stringify({ app: 'demo', version: '1.0.0', modules }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

test('a budget is bytes or a size string; anything else is refused by name', (t) => {
  t.is(parseBudget(4096, 'm'), 4096);
  t.is(parseBudget('4k', 'm'), 4096);
  t.is(parseBudget('512KiB', 'm'), 512 * 1024);
  t.is(parseBudget('1.5M', 'm'), 1.5 * 1024 * 1024);
  t.throws(() => parseBudget('4 potatoes', 'modules[0]'), { message: /modules\[0\]: budget "4 potatoes" is not a size/ });
  t.throws(() => parseBudget(-3, 'm'), { message: /is not a size/ });
  t.throws(() => parseBudget('0k', 'm'), { message: /more than 0 bytes/ });
});

test('tier is required where a module travels and refused where it cannot', async (t) => {
  const client = appDir([{ name: 'ui', kind: 'client', entry: 'ui.ts' }]);
  await t.throwsAsync(sourceManifest(client), { message: /modules\[0\]\.tier: a client module goes on the carousel/ });
  const server = appDir([{ name: 'tally', kind: 'server', tier: 'fallback-1', entry: 'tally.ts' }]);
  await t.throwsAsync(sourceManifest(server), { message: /runs only on the head-end .* remove "tier"/ });
  const ok = await sourceManifest(appDir([{ name: 'tally', kind: 'server', entry: 'tally.ts', budget: '4k' }]));
  t.is(ok.modules[0]?.tier, 'boot');
  t.is(ok.modules[0]?.budget, 4096);
});

test('a type error in a module fails the build with its file and line', async (t) => {
  const dir = appDir([], { 'package.json': '{"type":"module"}', 'bad.ts': "const n: number = 'text';\nexport { n };\n", 'good.ts': 'export const n: number = 1;\n' });
  const errors = await typecheckApp(dir, ['bad.ts'], join(ROOT, 'tsconfig.json'));
  t.is(errors.length, 1);
  t.regex(errors[0] ?? '', /bad\.ts:1:7 Type 'string' is not assignable to type 'number'/);
  t.deepEqual(await typecheckApp(dir, ['good.ts'], join(ROOT, 'tsconfig.json')), []);
});
