// The plant's VM box (issue 18 build 3): the firmware in a qemu-system-aarch64 VM whose NIC is a
// tap in the box's namespace, bridged there with the namespace's veth into the plant's bridge, so
// the carousel reaches the VM by multicast as on a real segment. The VM's packets are bridged, not
// sent by the namespace, so its return path is cut in the namespace's bridge (nft `bridge` family,
// forward hook), not in the `inet` table the other boxes use. Knows nothing of the plant's script.

import { join } from 'node:path';
import { labLimits, profile as profileById } from '../profiles.ts';
import { EMULATION_CPU_SCALE } from './boot.ts';
import type { Netns } from './netns.ts';
import { buildDisk, buildInitrd, type VmKit, vmArgs } from './vm.ts';

/** The VM's tap in its box namespace (one VM per namespace). */
export const VM_TAP = 'tap0';

/** Box namespace `ns` becomes a bridge (`br1`) between its eth0 (the plant) and the VM's tap, with a bridge-family fault table. */
export async function wireVmBox(net: Netns, ns: string): Promise<void> {
  await net.exec(ns, 'ip', ['addr', 'flush', 'dev', 'eth0']); // the address is the VM's now
  await net.exec(ns, 'ip', ['tuntap', 'add', 'dev', VM_TAP, 'mode', 'tap']);
  await net.exec(ns, 'ip', ['link', 'add', 'br1', 'type', 'bridge', 'mcast_snooping', '0']);
  for (const port of ['eth0', VM_TAP]) await net.exec(ns, 'ip', ['link', 'set', port, 'master', 'br1', 'up']);
  await net.exec(ns, 'ip', ['link', 'set', 'br1', 'up']);
  await net.nft(ns, ['add', 'table', 'bridge', 'weft']);
  await net.nft(ns, ['add', 'chain', 'bridge', 'weft', 'cut', '{ type filter hook forward priority 0; policy accept; }']);
}

/** Drop the VM's TCP to and from the broker (`addr`:`port`) in its namespace's bridge: a dead path, not a reset. */
export async function cutVmBox(net: Netns, ns: string, addr: string, port: number): Promise<void> {
  await net.nft(ns, ['add', 'rule', 'bridge', 'weft', 'cut', 'ip', 'daddr', addr, 'tcp', 'dport', String(port), 'drop']);
  await net.nft(ns, ['add', 'rule', 'bridge', 'weft', 'cut', 'ip', 'saddr', addr, 'tcp', 'sport', String(port), 'drop']);
}

export async function restoreVmBox(net: Netns, ns: string): Promise<void> {
  await net.nft(ns, ['flush', 'chain', 'bridge', 'weft', 'cut']);
}

export interface VmBoxSpec {
  /** A folder of the plant's own for the disk and the initramfs. */
  work: string;
  firmware: string;
  /** The firmware's snapshot for the VM's CPU model (snapshot.ts), or undefined to load box.mjs. */
  snapshot: string | undefined;
  profile: string;
  /** The box's flags (boot.ts boxArgs); the secret goes by environment inside the VM. */
  box: string[];
  password: string;
  /** The VM's address on the plant's subnet (a /24), and its multicast route out of eth0. */
  addr: string;
}

/** The command (qemu first) that powers the VM box on: the profile's RAM, CPU and cores, the tap as its NIC. */
export async function vmBoxCommand(kit: VmKit, o: VmBoxSpec): Promise<string[]> {
  const disk = await buildDisk(kit, { work: o.work, firmware: o.firmware }, o.snapshot);
  const box = [...o.box, '--cpu-scale', String(EMULATION_CPU_SCALE)];
  const initrd = await buildInitrd(kit, join(o.work, 'vm-box'), box, o.password, disk.snapshot, { addr: `${o.addr}/24`, routes: ['224.0.0.0/4 dev eth0'] });
  const memMb = labLimits(profileById(o.profile)).vmMemoryMb;
  return [kit.qemu, ...vmArgs(kit, { profile: o.profile, memMb, initrd, disk, netdev: `tap,id=n0,ifname=${VM_TAP},script=no,downscript=no` })];
}
