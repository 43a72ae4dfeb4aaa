// The firmware's V8 startup snapshot for the lab (issue 18 build 6): made from
// dist/snapshot/box-snapshot.cjs by the Node that will run it (the arm64 Node under qemu-user, or
// this Node), once per firmware, and kept in the lab cache under a name with the hash of the
// bundle, the Node binary and the flags in it. A snapshot is specific to the V8 build, the
// architecture and the V8 flags (another flag set is refused at start), so nothing else may reuse it.

import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FIRMWARE_NODE_FLAGS } from '../../loader/memory.ts';
import type { Arm64Kit } from './fetch.ts';
import { LabError, run } from './exec.ts';

/** The snapshot-able bundle build.mjs writes (build.mjs SNAPSHOT_ENTRY), in `snapshot/` beside the firmware folder. */
export const SNAPSHOT_ENTRY = 'box-snapshot.cjs';
export const snapshotEntry = (firmware: string): string => join(firmware, '..', 'snapshot', SNAPSHOT_ENTRY);

/** Blobs kept in the cache (~5 MB each; every firmware build makes a new one): the newest. */
export const SNAPSHOTS_KEPT = 8;

/** Delete all but the `keep` most recently made blobs in `dir`. */
export async function pruneSnapshots(dir: string, keep = SNAPSHOTS_KEPT): Promise<string[]> {
  const blobs = (await readdir(dir)).filter((f) => f.startsWith('box-') && f.endsWith('.blob'));
  const dated = await Promise.all(blobs.map(async (f) => ({ f, t: (await stat(join(dir, f))).mtimeMs })));
  const old = dated.sort((a, b) => b.t - a.t).slice(keep).map((x) => x.f);
  for (const f of old) await rm(join(dir, f), { force: true });
  return old;
}

export interface FirmwareSnapshot {
  /** The blob, for `node --snapshot-blob <blob> box.mjs ...`. */
  blob: string;
  /** Whether it was made now (false: found in the cache). */
  built: boolean;
  /** ms the build took (0 when cached). */
  buildMs: number;
}

function fileHash(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** The cache name of a snapshot: what it was made from decides it. */
export async function snapshotName(firmware: string, node: string, arch: string, cpu = 'host'): Promise<string> {
  const entry = snapshotEntry(firmware);
  if (!existsSync(entry)) throw new LabError('snapshot', `no ${entry}: build the firmware again (npm run build)`);
  const h = createHash('sha256');
  h.update(await fileHash(entry));
  // The Node binary by size and change time: hashing 90 MB each boot would cost more than it saves.
  const st = statSync(node);
  h.update(`${node}\0${st.size}\0${st.mtimeMs}\0${FIRMWARE_NODE_FLAGS.join(' ')}`);
  return `box-${arch}-${cpu}-${h.digest('hex').slice(0, 16)}.blob`;
}

/**
 * The snapshot of the firmware in `firmware` for the arm64 Node under qemu-user (`kit`) on the CPU
 * model `cpu`, or for this Node natively; built into `<cache>/snapshots` when not there yet. V8
 * refuses a snapshot made on a CPU with other features ("different V8 configurations"): one made
 * under qemu-user `-cpu cortex-a53` serves a VM with `-cpu cortex-a53`, not qemu-user's default.
 */
export async function ensureSnapshot(o: { firmware: string; cache: string; arm64?: Arm64Kit; cpu?: string; log: (s: string) => void; timeoutMs?: number }): Promise<FirmwareSnapshot> {
  const node = o.arm64?.node ?? process.execPath;
  const arch = o.arm64 === undefined ? process.arch : 'arm64';
  const cpu = o.arm64 === undefined ? 'host' : (o.cpu ?? 'max');
  if (!/^[a-z0-9-]{1,32}$/.test(cpu)) throw new LabError('snapshot', `bad CPU model "${cpu}"`);
  const dir = join(o.cache, 'snapshots');
  const blob = join(dir, await snapshotName(o.firmware, node, arch, cpu));
  if (existsSync(blob)) return { blob, built: false, buildMs: 0 };
  await mkdir(dir, { recursive: true });
  const tmp = `${blob}.${process.pid}.partial`;
  // The same V8 flags as the boots: V8 refuses a snapshot made under other flags.
  const nodeArgs = [...FIRMWARE_NODE_FLAGS, '--snapshot-blob', tmp, '--build-snapshot', snapshotEntry(o.firmware)];
  const [cmd, args] = o.arm64 === undefined ? [node, nodeArgs] : [o.arm64.qemu, ['-cpu', cpu, '-L', o.arm64.sysroot, node, ...nodeArgs]];
  o.log(`lab: building the firmware's startup snapshot for ${arch} ${cpu} (once per firmware) into ${blob}`);
  const t0 = performance.now();
  try {
    await run(cmd, args, { cwd: o.firmware, timeoutMs: o.timeoutMs ?? 120_000, step: `snapshot build (${arch})` });
    if (!existsSync(tmp)) throw new LabError(`snapshot build (${arch})`, 'node wrote no blob');
    await rename(tmp, blob);
  } finally {
    await rm(tmp, { force: true });
  }
  await pruneSnapshots(dir);
  return { blob, built: true, buildMs: Math.round(performance.now() - t0) };
}
