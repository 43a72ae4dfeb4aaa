// scripts/stress.mjs refuses what it does not know in one line before it starts its CPU hog.
import test from 'ava';
import { spawnSync } from 'node:child_process';

const stress = (...args: string[]) => spawnSync(process.execPath, ['scripts/stress.mjs', ...args], { encoding: 'utf8' });

test('unknown options and bad values are refused by name, exit 2, before any run', (t) => {
  for (const [args, said] of [
    [['--bogus'], 'stress: unknown option "--bogus"'],
    [['--all=1'], 'stress: --all takes no value'],
    [['--runs', '0'], 'stress: --runs must be an integer 1-100, not "0"'],
  ] as const) {
    const r = stress(...args);
    t.is(r.status, 2, args.join(' '));
    t.is(r.stderr.split('\n')[0], said);
    t.is(r.stdout, '', 'no run started');
  }
});
