// `weft lab vm`: the firmware in a qemu-system-aarch64 VM (TCG) sized from a device profile:
// Debian's cloud arm64 kernel, an initramfs of busybox (Debian busybox-static) and the virtio
// modules, and a read-only ext4 disk with the arm64 Node, its glibc and the firmware. QEMU user
// networking: the box dials the head-end at 10.0.2.2, the carousel comes in by a UDP hostfwd
// (slirp carries no multicast). Times power-on (qemu spawn) to `up`.

import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FIRMWARE_NODE_FLAGS } from '../../loader/memory.ts';
import { labLimits, profile as profileById } from '../profiles.ts';
import { type BootPhase, EMULATION_CPU_SCALE, noteOf, procCpuMs } from './boot.ts';
import { LabError, type Line, type LineChild, run, spawnLines } from './exec.ts';
import { type Arm64Kit, ensureArm64Kit, ensurePrograms, fetchArm64Debs, labCacheDir, resolveArm64Meta } from './fetch.ts';
import type { Stage } from './stage.ts';

/**
 * The kernel's command line. Under TCG Debian's cloud kernel spent ~1.3 s of a 4 s boot to /init
 * in crypto_algapi_init (the crypto self-tests, `cryptomgr.notests`) and 0.4 s in
 * crypto_kdf108_init (its own self-test); kprobe trace events another 0.25 s (`initcall_debug`,
 * docs/LAB.md). A box needs none of them: the firmware's crypto is Node's own (OpenSSL).
 * KASLR forced page table isolation on ("kernel page table isolation forced ON by KASLR"): a page
 * table switch on every syscall and fault, which TCG pays as a TLB flush, on a Cortex-A53 that
 * Meltdown does not reach. `nokaslr kpti=0 mitigations=off`: ~1 s less of the VM's CPU to `up`.
 */
export const KERNEL_CMDLINE = 'console=ttyAMA0 quiet panic=-1 cryptomgr.notests initcall_blacklist=crypto_kdf108_init,init_kprobe_trace nokaslr kpti=0 mitigations=off';

/** Load order matters: each module's `depends=` comes before it. */
const MODULES = ['virtio_ring', 'virtio', 'virtio_mmio', 'virtio_blk', 'failover', 'net_failover', 'virtio_net'];

export interface VmKit {
  qemu: string;
  kernel: string;
  /** Folder of the kernel modules (lib/modules/<version>). */
  modules: string;
  busybox: string;
  node: string;
  sysroot: string;
  /** The same arm64 Node under qemu-user: it makes the firmware's snapshot the VM starts from. */
  arm64: Arm64Kit;
}

/** The VM's disk image, and whether it carries the firmware's startup snapshot (fw/box.blob). */
export interface VmDisk {
  img: string;
  snapshot: boolean;
}

export interface VmResult {
  memMb: number;
  reached: boolean;
  /** Whether the firmware started from its startup snapshot. */
  snapshot: boolean;
  /** ms from qemu's spawn to each step of /init (`init`: the kernel is up and runs it; `modules`, `disk`, `net`, `node`). */
  steps: BootPhase[];
  /** ms from qemu's spawn to node starting, and to `up` (or the deadline). */
  nodeStartMs: number | undefined;
  upMs: number;
  phases: BootPhase[];
  rssMb: number | undefined;
  notes: string[];
}

export async function ensureVmKit(o: { install: boolean; log: (s: string) => void }): Promise<VmKit> {
  const progs = await ensurePrograms({ 'qemu-system-aarch64': 'qemu-system-arm', mke2fs: 'e2fsprogs', cpio: 'cpio', gzip: 'gzip' }, o);
  const arm = await ensureArm64Kit(o);
  const cache = labCacheDir();
  const dir = join(cache, 'vm-arm64');
  if (!existsSync(join(dir, '.weft-packages'))) {
    const image = await resolveArm64Meta(cache, 'linux-image-cloud-arm64');
    o.log(`lab: fetching Debian arm64 packages ${image} (~21 MB) and busybox-static into ${dir}`);
    const files = await fetchArm64Debs(cache, [image, 'busybox-static'], dir);
    await writeFile(join(dir, '.weft-packages'), `${files.join('\n')}\n`);
  }
  const kernel = (await readdir(join(dir, 'boot'))).find((f) => f.startsWith('vmlinuz-'));
  const versions = await readdir(join(dir, 'lib', 'modules'));
  if (kernel === undefined || versions[0] === undefined) throw new LabError('vm kit', `no kernel in ${dir}: delete it and run again`);
  return { qemu: progs['qemu-system-aarch64'] as string, kernel: join(dir, 'boot', kernel), modules: join(dir, 'lib', 'modules', versions[0]), busybox: join(dir, 'bin', 'busybox'), node: arm.node, sysroot: arm.sysroot, arm64: arm };
}

async function findModule(dir: string, name: string): Promise<string> {
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name === `${name}.ko`) return join(e.parentPath, e.name);
  }
  throw new LabError('vm image', `kernel module ${name}.ko not found`);
}

/**
 * The disk (node, glibc, firmware) once per stage; the initramfs per boot (it carries the box's
 * command). With `snapshot` (a blob made by the same arm64 Node with the same flags: snapshot.ts)
 * the firmware starts from it in the VM too.
 */
export async function buildDisk(kit: VmKit, stage: Pick<Stage, 'work' | 'firmware'>, snapshot?: string): Promise<VmDisk> {
  const root = join(stage.work, snapshot === undefined ? 'vm-root' : 'vm-root-snapshot');
  await mkdir(root, { recursive: true });
  await cp(join(kit.sysroot, 'lib'), join(root, 'lib'), { recursive: true, verbatimSymlinks: true });
  await cp(join(kit.sysroot, 'usr', 'lib'), join(root, 'usr', 'lib'), { recursive: true, verbatimSymlinks: true });
  await cp(kit.node, join(root, 'node'));
  await cp(stage.firmware, join(root, 'fw'), { recursive: true });
  if (snapshot !== undefined) await cp(snapshot, join(root, 'fw', VM_BLOB));
  const img = `${root}.img`;
  await run('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', root, img, '256M'], { step: 'mke2fs' });
  return { img, snapshot: snapshot !== undefined };
}

const VM_BLOB = 'box.blob';
/** A JSON line /init prints at each step, so the lab times it on arrival. */
const step = (name: string): string => `echo '{"kind":"vm","step":"${name}"}'`;

const shq = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

/** The VM's eth0: its address and routes (`ip route add <route>`), set by /init. */
export interface VmNet {
  addr: string;
  routes: string[];
}
/** QEMU user networking: the host is 10.0.2.2. */
export const USER_NET: VmNet = { addr: '10.0.2.15/24', routes: ['default via 10.0.2.2'] };

function netLines(net: VmNet): string {
  // They go into /init's shell script: only what an address or a route can hold.
  const bad = [net.addr, ...net.routes].find((x) => !/^[a-z0-9./ ]{1,60}$/.test(x));
  if (bad !== undefined) throw new LabError('vm image', `refusing network setting "${bad}"`);
  return ['ip link set lo up', `ip addr add ${net.addr} dev eth0`, 'ip link set eth0 up', ...net.routes.map((r) => `ip route add ${r}`)].join('; ');
}

/** The initramfs that runs the firmware with `box` flags and powers off; per boot (it carries the box's command). */
export async function buildInitrd(kit: VmKit, dir: string, box: string[], password: string | undefined, snapshot: boolean, net: VmNet = USER_NET): Promise<string> {
  const r = join(dir, 'initrd');
  await rm(r, { recursive: true, force: true });
  for (const d of ['bin', 'lib', 'proc', 'sys', 'dev', 'mnt', 'tmp']) await mkdir(join(r, d), { recursive: true });
  await cp(kit.busybox, join(r, 'bin', 'busybox'));
  for (const m of MODULES) await cp(await findModule(kit.modules, m), join(r, 'lib', `${m}.ko`));
  const libs = '/mnt/lib/aarch64-linux-gnu:/mnt/usr/lib/aarch64-linux-gnu';
  const init = [
    '#!/bin/busybox sh',
    '/bin/busybox --install -s /bin',
    step('init'),
    'mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp',
    `for m in ${MODULES.join(' ')}; do insmod /lib/$m.ko; done`,
    step('modules'),
    'mount -t ext4 -o ro /dev/vda /mnt || echo WEFT-VM-NO-DISK',
    step('disk'),
    netLines(net),
    step('net'),
    `cd /mnt/fw && ${password === undefined ? '' : `WEFT_BOX_PASSWORD=${shq(password)} `}/mnt/lib/ld-linux-aarch64.so.1 --library-path ${libs} /mnt/node ${FIRMWARE_NODE_FLAGS.join(' ')} ${snapshot ? `--snapshot-blob ${VM_BLOB} ` : ''}box.mjs ${box.map(shq).join(' ')}`,
    'echo WEFT-VM-DONE $?',
    'poweroff -f',
  ].join('\n');
  await writeFile(join(r, 'init'), `${init}\n`);
  await chmod(join(r, 'init'), 0o755);
  const out = join(dir, 'initrd.gz');
  await run('/bin/sh', ['-c', `cd ${shq(r)} && find . | cpio -o -H newc --quiet | gzip -1 > ${shq(out)}`], { step: 'cpio initramfs' });
  return out;
}

/** qemu-system-aarch64's arguments: the profile's CPU and cores, `memMb`, the kernel, the initramfs and disk, one virtio NIC on `netdev` (id n0). */
export function vmArgs(kit: VmKit, o: { profile: string; memMb: number; initrd: string; disk: VmDisk; netdev: string }): string[] {
  const limits = labLimits(profileById(o.profile));
  return [
    '-M', 'virt', '-cpu', limits.cpu, '-smp', String(limits.cores), '-m', String(o.memMb), '-kernel', kit.kernel, '-initrd', o.initrd,
    '-append', KERNEL_CMDLINE, '-drive', `file=${o.disk.img},format=raw,if=none,id=d0,readonly=on`, '-device', 'virtio-blk-device,drive=d0',
    '-netdev', o.netdev, '-device', 'virtio-net-device,netdev=n0', '-nographic', '-no-reboot',
  ];
}

/** Boot the VM once: power-on to `up` (or `degraded`), within `timeoutMs`. */
export async function bootVm(kit: VmKit, stage: Stage, disk: VmDisk, o: { profile: string; memMb?: number; timeoutMs: number }): Promise<VmResult> {
  const p = profileById(o.profile);
  const limits = labLimits(p);
  const memMb = o.memMb ?? limits.vmMemoryMb;
  const spec = stage.spec(o.profile, `vm-${o.profile}`, { timeoutMs: o.timeoutMs });
  const headend = spec.headend === undefined ? [] : ['--headend', spec.headend.replace('127.0.0.1', '10.0.2.2')];
  const box = ['--device', o.profile, '--carousel', 'udp://0.0.0.0:5500', '--id', spec.boxId, ...headend, '--exit-on', spec.until, '--cpu-scale', String(EMULATION_CPU_SCALE)];
  const initrd = await buildInitrd(kit, stage.work, box, spec.password, disk.snapshot);
  // slirp's hostfwd binds its own port: the stage's carousel port is held by the stage (stage.ts).
  const relay = await stage.carouselRelay();
  const args = vmArgs(kit, { profile: o.profile, memMb, initrd, disk, netdev: `user,id=n0,hostfwd=udp:127.0.0.1:${relay.port}-:5500` });
  const t0 = spec.now();
  // The VM's CPU (all of qemu: the vCPU and its I/O) at each line: comparable under any load.
  const cpuAt = new Map<Line, number>();
  const vm: LineChild = spawnLines(kit.qemu, args, {
    now: spec.now,
    onLine: (l) => {
      const ms = procCpuMs(vm.child.pid);
      if (ms !== undefined) cpuAt.set(l, ms);
    },
  });
  const at = (l: Line, name: string): BootPhase => ({ state: name, ms: Math.round(l.atMs - t0), ...(cpuAt.has(l) ? { cpuMs: cpuAt.get(l) } : {}) });
  try {
    const end = await vm.waitFor((x) => x.kind === 'exit', o.timeoutMs, `VM boot of ${o.profile} in ${memMb} MB`).catch(() => undefined);
    const phases = vm.lines.filter((l) => l.o.kind === 'state').map((l) => at(l, String(l.o.to)));
    const first = vm.lines.find((l) => l.o.kind !== 'vm');
    const steps = vm.lines.filter((l) => l.o.kind === 'vm').map((l) => at(l, String(l.o.step)));
    const reached = end !== undefined && end.o.state === spec.until;
    const up = phases.find((x) => x.state === spec.until);
    return {
      memMb,
      reached,
      snapshot: disk.snapshot,
      steps,
      // The firmware's `t` is ms since its own start: the first line dates node's start in the VM.
      nodeStartMs: first === undefined ? undefined : Math.round(first.atMs - t0 - Number(first.o.t ?? 0)),
      upMs: reached && up !== undefined ? up.ms : Math.round(spec.now() - t0),
      phases,
      rssMb: end === undefined ? undefined : Number(end.o.rssMb),
      notes: [
        ...vm.lines.map((l) => noteOf(l.o)).filter((n): n is string => n !== undefined),
        ...(reached ? [] : vm.stderr().trim().split('\n').slice(-6).map((l) => `console: ${l.trim()}`)),
      ],
    };
  } finally {
    await vm.stop();
    await relay.close();
  }
}
