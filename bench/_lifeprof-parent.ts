// The bench's side of bench/_lifeprof.mjs: the node arguments that make a child profile its
// whole life, and the wait at exit while each child writes its profile (bench rollout's
// ROLLOUT_PROF_DIR). Synchronous: it runs in the bench's 'exit' handler, where no loop turns.
import { readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';

const PRELOAD = new URL('./_lifeprof.mjs', import.meta.url).pathname;

/** Node arguments for a child that writes a whole-life profile into `dir` ('' : none); sets the children's WEFT_PROF_DIR. */
export function lifeProfArgs(dir: string): string[] {
  if (dir === '') return [];
  process.env.WEFT_PROF_DIR = dir;
  return ['--import', PRELOAD];
}

/** Still running: a child that exited stays a zombie while no loop reaps it, so kill(pid, 0) cannot tell. */
function alive(pid: number | undefined): boolean {
  try {
    return pid !== undefined && !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return false;
  }
}

/** Ask every child for its profile (SIGUSR2) and wait, at most `ms`, until each has exited. */
export function collectLifeProfiles(children: ChildProcess[], ms = 20_000): void {
  for (const c of children) c.kill('SIGUSR2');
  const deadline = Date.now() + ms;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (children.some((c) => alive(c.pid)) && Date.now() < deadline) Atomics.wait(nap, 0, 0, 100);
}
