// The firmware's resident memory for its stats: VmRSS from /proc/self/status where Linux has it,
// Node's own figure elsewhere. Under qemu-user `process.memoryUsage().rss` reads 0 (and VmRSS
// there includes the emulator: docs/LAB.md says how to read it). Reads, never throws.

import { readFileSync } from 'node:fs';

/** VmRSS of a /proc/<pid>/status text, bytes; undefined when the line is missing or malformed. */
export function vmRssBytes(status: string): number | undefined {
  const m = /^VmRSS:\s*(\d{1,12})\s*kB\s*$/m.exec(status);
  return m === null ? undefined : Number(m[1]) * 1024;
}

/** This process's resident set, bytes: /proc's VmRSS when readable, else Node's `rss`. */
export function residentBytes(
  readStatus: () => string = () => readFileSync('/proc/self/status', 'utf8'),
  nodeRss: () => number = () => process.memoryUsage().rss,
): number {
  let status: string | undefined;
  try {
    status = readStatus();
  } catch {
    /* not Linux, or /proc not mounted: Node's figure is all there is */
  }
  return (status === undefined ? undefined : vmRssBytes(status)) ?? nodeRss();
}
