// A memory cgroup for one firmware process: cgroup v2 (memory.max) where the unified hierarchy has
// the memory controller, else v1 (memory.limit_in_bytes). The firmware is started inside it by a
// shell that moves itself in and execs; the group is removed afterwards. Root only.

import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rmdir, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { LabError } from './exec.ts';
import { NETNS_PREFIX } from './netns.ts';

const V2 = '/sys/fs/cgroup';
const V1 = '/sys/fs/cgroup/memory';

export interface MemoryCgroup {
  dir: string;
  /** The command that runs `cmd args` inside the group. */
  wrap(cmd: string, args: readonly string[]): { cmd: string; args: string[] };
  /** Whether the kernel's OOM killer acted in this group. */
  oomKilled(): boolean;
  remove(): Promise<void>;
}

/** Which cgroup memory interface this machine offers to root, or undefined. */
export function cgroupMemoryKind(): 'v2' | 'v1' | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const controllers = join(V2, 'cgroup.controllers');
  if (existsSync(controllers) && readFileSync(controllers, 'utf8').split(/\s+/).includes('memory')) return 'v2';
  if (existsSync(join(V1, 'memory.limit_in_bytes'))) return 'v1';
  return undefined;
}

/** A new memory cgroup limited to `bytes` (no swap beyond it where the kernel can say so). */
export async function memoryCgroup(bytes: number): Promise<MemoryCgroup> {
  if (!Number.isInteger(bytes) || bytes < 8 * 1024 * 1024) throw new LabError('cgroup', `limit must be at least 8 MiB, got ${bytes}`);
  const kind = cgroupMemoryKind();
  if (kind === undefined) throw new LabError('cgroup', 'no memory cgroup here (needs root and the memory controller)');
  const dir = join(kind === 'v2' ? V2 : V1, `${NETNS_PREFIX}${randomBytes(3).toString('hex')}`);
  await mkdir(dir);
  try {
    if (kind === 'v2') {
      await writeFile(join(dir, 'memory.max'), String(bytes));
      if (existsSync(join(dir, 'memory.swap.max'))) await writeFile(join(dir, 'memory.swap.max'), '0');
    } else {
      await writeFile(join(dir, 'memory.limit_in_bytes'), String(bytes));
      if (existsSync(join(dir, 'memory.memsw.limit_in_bytes'))) await writeFile(join(dir, 'memory.memsw.limit_in_bytes'), String(bytes));
    }
  } catch (e) {
    await rmdir(dir).catch(() => {});
    throw new LabError('cgroup', `cannot set the limit in ${dir}: ${(e as Error).message}`);
  }
  const procs = join(dir, 'cgroup.procs');
  return {
    dir,
    wrap: (cmd, args) => ({ cmd: '/bin/sh', args: ['-c', `echo $$ > '${procs}' && exec "$@"`, 'weft-lab-cgroup', cmd, ...args] }),
    oomKilled: () => {
      const events = join(dir, kind === 'v2' ? 'memory.events' : 'memory.oom_control');
      if (!existsSync(events)) return false;
      const m = /oom_kill (\d+)/.exec(readFileSync(events, 'utf8'));
      return m !== null && Number(m[1]) > 0;
    },
    remove: async () => {
      // The group empties as its last process is reaped; a few tries cover the kernel's lag.
      for (let i = 0; i < 50; i++) {
        try {
          await rmdir(dir);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
  };
}
