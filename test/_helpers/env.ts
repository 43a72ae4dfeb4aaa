// Environment switches for tests that need outside programs (mosquitto, redis-server, tshark,
// chromium, root). They skip with a clear message, or fail when WEFT_REQUIRE_ALL=1 (CI).

import { execFileSync } from 'node:child_process';
import type { ExecutionContext } from 'ava';

export const requireAll = process.env.WEFT_REQUIRE_ALL === '1';

/** Path of an executable on PATH (or in /usr/sbin), or undefined. */
export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin'])) {
    try {
      execFileSync('test', ['-x', `${dir}/${cmd}`]);
      return `${dir}/${cmd}`;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/**
 * Returns the program's path, or (when missing) marks the test as passed-with-a-note under
 * normal runs and fails it under WEFT_REQUIRE_ALL=1. Call at the top of the test and return
 * when it gives undefined.
 */
export function needProgram(t: ExecutionContext, cmd: string, why: string): string | undefined {
  const p = which(cmd);
  if (p !== undefined) return p;
  const msg = `${cmd} is not installed (${why}); install it or run .ci/run`;
  if (requireAll) {
    t.fail(`${msg}: WEFT_REQUIRE_ALL=1 makes this a failure`);
  } else {
    t.log(`SKIPPED: ${msg}`);
    t.pass();
  }
  return undefined;
}
