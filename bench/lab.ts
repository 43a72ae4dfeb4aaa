// The device lab's figures (issue 18): the firmware natively and as arm64 under qemu-user (cold,
// warm), its RSS at `up` natively (/proc VmRSS), the smallest memory cgroup it boots in, and the
// plant's cut detection and recovery, and the VM (qemu-system-aarch64): power-on to `up` in the
// profile's RAM, and the least memory (32 MB steps down from it) it still gets `up` in.
// Goals: qemu-user cold <= 2500 ms, warm <= 2000 ms; VM up <= 8000 ms in 128 MB; RSS <= 64 MB; cgroup <= 48 MB; cut detected
// <= 5000 ms; an up box back <= 2000 ms after its path returns. docs/LAB.md.
// The qemu-user boots start from the firmware's V8 startup snapshot (devices/lab/snapshot.ts), with
// the same cold boot loading box.mjs beside them (qemu_user_plain_cold_*); the VM starts from the
// snapshot too (with wasm on Liftoff it costs no memory there), with a VM boot loading box.mjs
// beside it (vm_plain_*). CPU figures (ms of the emulator's CPU) are beside the wall
// times: this machine is shared, and a boot's CPU moves far less with the load than its wall time.
// The plant runs an arm64 box (qemu-user) and a VM box (qemu-system on a tap in its bridge) too,
// each cut and restored after box 0.
// Run: npm run bench -- lab [--runs N] [--profile p]  (root for the cgroup and the plant)

import { median, phasesTable, runArm64Lab } from '../devices/lab/arm64.ts';
import { cgroupMemoryKind } from '../devices/lab/cgroup.ts';
import { cgroupMinimum } from '../devices/lab/footprint.ts';
import { Plant, plantTable } from '../devices/lab/plant.ts';
import { labCacheDir } from '../devices/lab/fetch.ts';
import { ensureSnapshot } from '../devices/lab/snapshot.ts';
import { withStage } from '../devices/lab/stage.ts';
import { loadavg } from 'node:os';
import { bootVm, buildDisk, ensureVmKit, type VmResult } from '../devices/lab/vm.ts';
import { labLimits, profile } from '../devices/profiles.ts';
import { result } from './_report.ts';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : (process.argv[i + 1] ?? fallback);
};
const RUNS = Number(arg('--runs', '3'));
const PROFILE = arg('--profile', 'legacy-sd');
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs takes a positive integer');
const log = (l: string): void => console.error(l);

const lab = await runArm64Lab({ profiles: [PROFILE], runs: RUNS, install: true, baseline: true, log });
console.log(phasesTable(lab));
const boots = lab.boots[0];
const reachedMs = (bs: { reached: boolean; upMs: number }[]): number | null => {
  const ok = bs.filter((b) => b.reached).map((b) => b.upMs);
  return ok.length === 0 ? null : median(ok);
};
const cpuMs = (bs: { reached: boolean; cpuMs: number | undefined }[]): number | null => {
  const ok = bs.filter((b) => b.reached && b.cpuMs !== undefined).map((b) => b.cpuMs as number);
  return ok.length === 0 ? null : median(ok);
};

let cgroupMb: number | null = null;
if (cgroupMemoryKind() === undefined) log('lab: no memory cgroup here (root and the memory controller): cgroup_min_mb is null');
else {
  const m = await withStage((s) => cgroupMinimum(s, PROFILE, { floorMb: 16, ceilMb: 256, stepMb: 4, timeoutMs: 45_000, log }));
  cgroupMb = m.minMb ?? null;
}

const vmKit = await ensureVmKit({ install: true, log });
const vm = await withStage(async (stage) => {
  // The VM starts from the snapshot (`weft lab vm`'s default), with a boot loading box.mjs beside it.
  const snap = await ensureSnapshot({ firmware: stage.firmware, cache: labCacheDir(), arm64: vmKit.arm64, cpu: labLimits(profile(PROFILE)).cpu, log });
  const disk = await buildDisk(vmKit, stage, snap.blob);
  const show = (r: VmResult): string => `${r.reached ? `up at ${r.upMs} ms, ${r.phases.at(-1)?.cpuMs ?? '-'} ms of CPU, RSS ${r.rssMb} MB` : `not up (${r.notes.slice(-2).join('; ')})`}; /init at ${r.steps[0]?.ms ?? '-'} ms; ${r.phases.map((p) => `${p.state} ${p.ms}/${p.cpuMs ?? '-'}`).join(', ')}`;
  const first = await bootVm(vmKit, stage, disk, { profile: PROFILE, timeoutMs: 90_000 });
  log(`lab: VM ${PROFILE} in ${first.memMb} MB from the snapshot: ${show(first)}`);
  const plain = await bootVm(vmKit, stage, await buildDisk(vmKit, stage), { profile: PROFILE, timeoutMs: 90_000 });
  log(`lab: VM ${PROFILE} in ${plain.memMb} MB loading box.mjs: ${show(plain)}`);
  let least = first.reached ? first.memMb : null;
  for (let mb = labLimits(profile(PROFILE)).vmMemoryMb - 32; least !== null && mb >= 64; mb -= 32) {
    const r = await bootVm(vmKit, stage, disk, { profile: PROFILE, memMb: mb, timeoutMs: 60_000 });
    log(`lab: VM ${PROFILE} in ${mb} MB: ${r.reached ? `up at ${r.upMs} ms` : `not up (${r.notes.slice(-2).join('; ')})`}`);
    if (!r.reached) break;
    least = mb;
  }
  const upCpu = (r: VmResult): number | null => (r.reached ? (r.phases.at(-1)?.cpuMs ?? null) : null);
  const upMs = (r: VmResult): number | null => (r.reached ? r.upMs : null);
  return { upMs: upMs(first), upCpuMs: upCpu(first), rssMb: first.rssMb ?? null, plainUpMs: upMs(plain), plainUpCpuMs: upCpu(plain), plainRssMb: plain.rssMb ?? null, least };
});

let detect: number | null = null;
let recover: number | null = null;
let armDetect: number | null = null;
let armRecover: number | null = null;
let vmBoot: number | null = null;
let vmDetect: number | null = null;
let vmRecover: number | null = null;
if (process.getuid?.() !== 0) log('lab: the plant needs root: plant figures are null');
else {
  const plant = new Plant({ boxes: 5, profile: 'hd-dvr', arm64: true, vm: true, lossPercent: 20, install: true, stepTimeoutMs: 30_000, log });
  const r = await plant.run();
  console.log(plantTable(r));
  for (const f of r.findings) console.log(`finding: ${f}`);
  detect = r.boxes[0]?.detectMs ?? null;
  recover = r.boxes[0]?.recoverMs ?? null;
  armDetect = r.boxes[3]?.detectMs ?? null;
  armRecover = r.boxes[3]?.recoverMs ?? null;
  const v = r.boxes[4];
  vmBoot = v?.bootState === 'up' ? v.bootMs : null;
  vmDetect = v?.detectMs ?? null;
  vmRecover = v?.recoverMs ?? null;
}

result('lab', {
  native_up_ms: boots?.native.upMs ?? null,
  qemu_user_cold_up_ms: reachedMs(boots?.cold ?? []),
  qemu_user_warm_up_ms: reachedMs(boots?.warm ?? []),
  qemu_user_cold_cpu_ms: cpuMs(boots?.cold ?? []),
  qemu_user_warm_cpu_ms: cpuMs(boots?.warm ?? []),
  qemu_user_plain_cold_up_ms: reachedMs(boots?.baseline ?? []),
  qemu_user_plain_cold_cpu_ms: cpuMs(boots?.baseline ?? []),
  vm_power_on_to_up_ms: vm.upMs,
  vm_up_cpu_ms: vm.upCpuMs,
  vm_rss_up_mb: vm.rssMb,
  vm_plain_power_on_to_up_ms: vm.plainUpMs,
  vm_plain_up_cpu_ms: vm.plainUpCpuMs,
  vm_plain_rss_up_mb: vm.plainRssMb,
  vm_min_mem_mb: vm.least,
  cgroup_min_mb: cgroupMb,
  rss_up_mb: boots?.native.rssMb ?? null,
  plant_cut_detect_ms: detect,
  plant_recover_ms: recover,
  plant_arm64_cut_detect_ms: armDetect,
  plant_arm64_recover_ms: armRecover,
  plant_vm_boot_ms: vmBoot,
  plant_vm_cut_detect_ms: vmDetect,
  plant_vm_recover_ms: vmRecover,
  load_average: Number((loadavg()[0] ?? 0).toFixed(1)),
});
