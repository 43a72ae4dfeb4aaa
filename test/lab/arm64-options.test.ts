// `weft lab arm64 --against <dir>`: an older build booted beside this one (A/B, issue 18.6). The
// folder must hold what a build writes there; anything else is refused by name before a boot.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { checkArm64Options } from '../../devices/lab/arm64.ts';

const base = { profiles: ['hd-dvr'], runs: 1, install: false, log: () => {} };

test('--against takes the --out folder of a build: its firmware/box.mjs and snapshot/box-snapshot.cjs', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-against-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.throws(() => checkArm64Options({ ...base, against: dir }), { message: /--against .*: no firmware\/box\.mjs there \(give the --out folder of node build\.mjs\)/ });
  mkdirSync(join(dir, 'firmware'));
  writeFileSync(join(dir, 'firmware', 'box.mjs'), '');
  t.throws(() => checkArm64Options({ ...base, against: dir }), { message: /no snapshot\/box-snapshot\.cjs there/ });
  mkdirSync(join(dir, 'snapshot'));
  writeFileSync(join(dir, 'snapshot', 'box-snapshot.cjs'), '');
  t.notThrows(() => checkArm64Options({ ...base, against: dir }));
  t.notThrows(() => checkArm64Options(base), 'without it, nothing changes');
});

test('an unknown option is still refused by name', (t) => {
  t.throws(() => checkArm64Options({ ...base, versus: 'x' } as never), { message: /unknown option "versus"/ });
});
