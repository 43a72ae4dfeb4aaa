#!/usr/bin/env node
// Runs ava with TAP output, passes it through, and ends with the plain line
// `N passed, N failed[, N skipped]` that CI reads. Exits with ava's status.
import { spawn } from 'node:child_process';

const ava = spawn(process.execPath, ['node_modules/ava/entrypoints/cli.mjs', '--tap', ...process.argv.slice(2)], {
  stdio: ['inherit', 'pipe', 'inherit'],
});
const counts = { pass: 0, fail: 0, skip: 0, todo: 0 };
let rest = '';
ava.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  rest += chunk.toString('utf8');
  const lines = rest.split('\n');
  rest = lines.pop() ?? '';
  for (const line of lines) {
    const m = /^# (pass|fail|skip|todo) (\d+)$/.exec(line.trim());
    if (m) counts[m[1]] = Number(m[2]);
  }
});
ava.on('close', (code) => {
  const m = /^# (pass|fail|skip|todo) (\d+)$/.exec(rest.trim());
  if (m) counts[m[1]] = Number(m[2]);
  const skipped = counts.skip + counts.todo;
  process.stdout.write(`\n${counts.pass} passed, ${counts.fail} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  process.exit(code ?? 1);
});
