#!/usr/bin/env node
// Makes `npm start` and `npm test` work on a fresh clone: when a dependency named in
// package.json is missing from node_modules, run `npm ci` once. Plain Node, no dependencies.
import { existsSync, readFileSync } from 'node:fs';
import { execSync } from 'node:child_process';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const names = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });
const missing = names.filter((n) => !existsSync(new URL(`../node_modules/${n}/package.json`, import.meta.url)));
if (missing.length > 0) {
  console.error(`weft: installing dependencies (missing: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''})`);
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit', cwd: new URL('..', import.meta.url) });
}
