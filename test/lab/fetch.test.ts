// Where the lab looks for things: its cache, and system programs (never node_modules/.bin, where
// npm puts a package's `nft` first on PATH).
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { findProgram, labCacheDir } from '../../devices/lab/fetch.ts';

test('the lab cache: WEFT_LAB_CACHE, else XDG_CACHE_HOME, else ~/.cache', (t) => {
  t.is(labCacheDir({ WEFT_LAB_CACHE: '/x/lab' }), '/x/lab');
  t.is(labCacheDir({ XDG_CACHE_HOME: '/c' }), '/c/weft-lab');
  t.true(labCacheDir({}).endsWith('/.cache/weft-lab'));
});

test('a program in node_modules/.bin is not the system one', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-lab-find-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'node_modules', '.bin');
  const other = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  mkdirSync(other);
  for (const d of [bin, other]) {
    writeFileSync(join(d, 'weft-lab-probe'), '#!/bin/sh\n');
    chmodSync(join(d, 'weft-lab-probe'), 0o755);
  }
  writeFileSync(join(bin, 'only-in-node-modules'), '');
  t.is(findProgram('weft-lab-probe', { PATH: `${bin}:${other}` }), join(other, 'weft-lab-probe'));
  t.is(findProgram('only-in-node-modules', { PATH: bin }), undefined);
  t.regex(findProgram('sh', { PATH: bin }) ?? '', /^\/(usr\/)?s?bin\/sh$/, 'system folders first');
});
