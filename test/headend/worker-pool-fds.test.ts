// A thread the pool terminates runs no close of its own. A portion thread keeps its schedstat file
// open for its life (thread-cpu.ts), which is sound only because Node closes the raw descriptors a
// worker opened when it exits (`trackUnmanagedFds`, on by default): an elastic pool that retires
// threads all day would otherwise leak one per thread. This holds the pool to that.
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { WorkerPool } from '../../headend/portions/worker-pool.ts';

const ENTRY = new URL('./_fd-worker.mjs', import.meta.url);

/** Descriptors of this process open on `path`. */
function openOn(path: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) n++;
    } catch {
      /* closed while listing */
    }
  }
  return n;
}

test('a descriptor a pooled thread kept open is closed when the pool ends the thread', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-fds-'));
  const path = join(dir, 'kept');
  writeFileSync(path, 'x');
  const keepAlive = setInterval(() => {}, 60_000); // the pool unrefs its threads
  const pool = new WorkerPool({ entry: ENTRY, spare: 0, max: 3, bundle: false, data: { path } });
  try {
    const workers = [await pool.acquire(), await pool.acquire()];
    t.is(openOn(path), 2, 'each thread holds its file while it runs');
    const exited = new Promise<void>((resolve) => workers[0]!.onExit(() => resolve()));
    await pool.release(workers[0]!);
    await exited;
    t.is(openOn(path), 1, 'the released thread\'s descriptor was closed');
    await pool.close();
    t.is(openOn(path), 0, 'and the rest on close');
  } finally {
    await pool.close();
    clearInterval(keepAlive);
    rmSync(dir, { recursive: true, force: true });
  }
});
