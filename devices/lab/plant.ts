// `weft lab plant`: a head-end namespace and N box namespaces on a bridge, the carousel on a real
// multicast group, the broker reached through a DNAT rule, and scripted faults with nft: box 0's
// return path is cut after it is up and restored; box 1 boots with its return path cut (it falls
// back to the carousel tiers) and gets it back; box 2 boots with loss on the broadcast path; with
// `arm64` the last box runs under qemu-user (from the firmware's snapshot), and with `vm` the last
// box is a qemu-system VM on a tap in the plant's bridge (plant-vm.ts; the arm64 box is then the
// one before it); each is cut and restored once up, like box 0.
// Detection and recovery times come from the boxes' own events. Everything it made is removed at
// the end, on failure and on abort (Ctrl-C). Only addresses inside its namespaces are used.

import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { derivedBoxSecret } from '../../headend/broker/broker-auth.ts';
import { labLimits, profile as profileById } from '../profiles.ts';
import { boxArgs, firmwareCommand } from './boot.ts';
import { ensureArm64Kit, ensurePrograms, labCacheDir, systemProgram, type Arm64Kit } from './fetch.ts';
import { ensureSnapshot } from './snapshot.ts';
import { cutVmBox, restoreVmBox, vmBoxCommand, wireVmBox } from './plant-vm.ts';
import { ensureVmKit, type VmKit } from './vm.ts';
import { LabError, spawnLines, type LineChild } from './exec.ts';
import { NETNS_PREFIX, Netns } from './netns.ts';
// @ts-expect-error build.mjs is plain JavaScript without type declarations
import { build } from '../../build.mjs';

export type BoxRole = 'cut-after-up' | 'cut-from-boot' | 'lossy-carousel' | 'plain';

/** How the arm64 box runs: under qemu-user with the profile's CPU model, from the firmware's snapshot. */
interface QemuBox {
  arm64: Arm64Kit;
  cpu: string;
  snapshot: string;
}
const ROLES: BoxRole[] = ['cut-after-up', 'cut-from-boot', 'lossy-carousel'];

export interface PlantOptions {
  boxes: number;
  profile: string;
  /** Run the last box as arm64 under qemu-user (the one before the VM box with `vm`). */
  arm64: boolean;
  /** Run the last box as an arm64 VM (qemu-system-aarch64) on a tap in the plant's bridge. */
  vm?: boolean;
  /** Percent of carousel datagrams the lossy box drops. */
  lossPercent: number;
  install: boolean;
  /** Longest wait for any one thing (a box up, a detection, a recovery), ms. */
  stepTimeoutMs: number;
  log: (line: string) => void;
}

export interface PlantBox {
  id: string;
  role: BoxRole;
  /** arm64 under qemu-user, or (`vm`) in a qemu-system VM; natively when both are false. */
  arm64: boolean;
  vm: boolean;
  /** ms from spawn to `up` (or to `degraded` for the box cut from boot), or to the deadline. */
  bootMs: number;
  /** `up` / `degraded` when reached in time, else the state it stood in at the deadline. */
  bootState: string;
  /** States it went through during boot. */
  path: string[];
  /** ms from the cut to the box noticing (link down or leaving `up`). */
  detectMs?: number;
  /** ms from restoring the return path to `up` again. */
  recoverMs?: number;
}

export interface PlantResult {
  boxes: PlantBox[];
  /** What did not happen in time (a cut not noticed, a box not back), one line each. */
  findings: string[];
}

const SUBNET = '10.77.0';
const HEADEND_ADDR = `${SUBNET}.1`;
const GROUP = '239.77.0.1';
const CAROUSEL_PORT = 5500;
const BROKER_PORT = 1883;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OPTION_KEYS = ['boxes', 'profile', 'arm64', 'vm', 'lossPercent', 'install', 'stepTimeoutMs', 'log'];

export function checkPlantOptions(o: PlantOptions): void {
  const bad = Object.keys(o).filter((k) => !OPTION_KEYS.includes(k));
  if (bad.length > 0) throw new LabError('lab plant', `unknown option "${bad[0]}"`);
  if (!Number.isInteger(o.boxes) || o.boxes < 1 || o.boxes > 16) throw new LabError('lab plant', '--boxes must be an integer in 1..16');
  if (!Number.isFinite(o.lossPercent) || o.lossPercent < 0 || o.lossPercent > 90) throw new LabError('lab plant', '--loss must be a percent in 0..90');
  if (!Number.isFinite(o.stepTimeoutMs) || o.stepTimeoutMs < 1000 || o.stepTimeoutMs > 600_000) throw new LabError('lab plant', '--timeout must be in 1..600 s');
  if (o.arm64 && o.vm === true && o.boxes < 2) throw new LabError('lab plant', '--arm64 with --vm needs --boxes 2 or more (the VM is the last box, the arm64 box the one before)');
  if (!profileById(o.profile).channels.twoWay) throw new LabError('lab plant', `profile ${o.profile} has no return channel: the plant cuts return paths`);
}

export const roleOf = (i: number): BoxRole => ROLES[i] ?? 'plain';

/** How box i of a plant runs: the VM is the last box, the arm64 box the last one that is not the VM. */
export function kindOf(o: Pick<PlantOptions, 'boxes' | 'arm64' | 'vm'>, i: number): 'native' | 'arm64' | 'vm' {
  const vm = o.vm === true;
  if (vm && i === o.boxes - 1) return 'vm';
  return o.arm64 && i === o.boxes - 1 - (vm ? 1 : 0) ? 'arm64' : 'native';
}

/** A running plant; `abort()` (Ctrl-C) stops its processes so `run` ends and cleans up. */
export class Plant {
  readonly #o: PlantOptions;
  readonly #net: Netns;
  readonly #children: LineChild[] = [];
  readonly #tag = randomBytes(2).toString('hex');
  #aborted = false;
  #vmKit: VmKit | undefined;
  #stopping = false;
  readonly now = (): number => performance.now();

  constructor(o: PlantOptions) {
    checkPlantOptions(o);
    this.#o = o;
    this.#net = new Netns(o.log);
  }

  /** The namespaces this plant makes (gone again once `run` has settled). */
  get namespaces(): string[] {
    return ['br', 'he', ...Array.from({ length: this.#o.boxes }, (_, i) => `b${i}`)].map((x) => this.#ns(x));
  }

  abort(): void {
    this.#aborted = true;
    for (const c of this.#children) c.child.kill('SIGTERM');
  }

  #ns(name: string): string {
    return `${NETNS_PREFIX}${this.#tag}-${name}`;
  }

  #check(): void {
    if (this.#aborted) throw new LabError('lab plant', 'aborted');
  }

  async run(): Promise<PlantResult> {
    if (process.getuid?.() !== 0) throw new LabError('lab plant', 'needs root (network namespaces, nft)');
    await ensurePrograms({ ip: 'iproute2', nft: 'nftables', sysctl: 'procps' }, this.#o);
    const kit = this.#o.arm64 ? await ensureArm64Kit({ install: this.#o.install, log: this.#o.log }) : undefined;
    this.#vmKit = this.#o.vm === true ? await ensureVmKit({ install: this.#o.install, log: this.#o.log }) : undefined;
    const work = await mkdtemp(join(tmpdir(), 'weft-lab-plant-'));
    try {
      await this.#wire();
      this.#check();
      return await this.#script(work, kit);
    } finally {
      this.#stopping = true;
      for (const c of this.#children) await c.stop();
      await this.#net.undo();
      await rm(work, { recursive: true, force: true });
    }
  }

  async #wire(): Promise<void> {
    const n = this.#net;
    this.#o.log(`lab: making network namespaces ${this.namespaces.join(', ')} on ${SUBNET}.0/24; carousel on ${GROUP}:${CAROUSEL_PORT}`);
    for (const x of this.namespaces) await n.addNamespace(x);
    await n.addBridge(this.#ns('br'));
    await n.join(this.#ns('br'), 'vhe', this.#ns('he'), HEADEND_ADDR);
    await n.dnatToLoopback(this.#ns('he'), BROKER_PORT);
    for (let i = 0; i < this.#o.boxes; i++) {
      await n.join(this.#ns('br'), `vb${i}`, this.#ns(`b${i}`), `${SUBNET}.${10 + i}`);
      await n.addFaultTable(this.#ns(`b${i}`));
      if (kindOf(this.#o, i) === 'vm') await wireVmBox(n, this.#ns(`b${i}`));
    }
  }

  async #cut(i: number): Promise<void> {
    const ns = this.#ns(`b${i}`);
    if (kindOf(this.#o, i) === 'vm') return cutVmBox(this.#net, ns, HEADEND_ADDR, BROKER_PORT);
    await this.#net.nft(ns, ['add', 'rule', 'inet', 'weft', 'out', 'ip', 'daddr', HEADEND_ADDR, 'tcp', 'dport', String(BROKER_PORT), 'drop']);
    await this.#net.nft(ns, ['add', 'rule', 'inet', 'weft', 'in', 'ip', 'saddr', HEADEND_ADDR, 'tcp', 'sport', String(BROKER_PORT), 'drop']);
  }

  async #restore(i: number): Promise<void> {
    const ns = this.#ns(`b${i}`);
    if (kindOf(this.#o, i) === 'vm') await restoreVmBox(this.#net, ns);
    await this.#net.nft(ns, ['flush', 'chain', 'inet', 'weft', 'out']);
    await this.#net.nft(ns, ['flush', 'chain', 'inet', 'weft', 'in']);
  }

  async #lossy(i: number): Promise<void> {
    const rule = ['ip', 'daddr', GROUP, 'udp', 'dport', String(CAROUSEL_PORT), 'numgen', 'random', 'mod', '100', 'lt', String(this.#o.lossPercent), 'drop'];
    await this.#net.nft(this.#ns(`b${i}`), ['add', 'rule', 'inet', 'weft', 'in', ...rule]);
  }

  async #startHeadend(work: string, masterKey: string): Promise<void> {
    await mkdir(join(work, '.weft'), { recursive: true });
    await writeFile(join(work, '.weft', 'master.key'), `${masterKey}\n`, { mode: 0o600 });
    const tsx = import.meta.resolve('tsx');
    const args = ['netns', 'exec', this.#ns('he'), process.execPath, '--import', tsx, join(ROOT, 'cli', 'main.ts'), 'headend', 'up', '--node', 'plant-he', '--registry', 'memory'];
    args.push('--apps', join(work, 'dist', 'apps'), '--keys', join(work, 'keys'), '--carousel', `${GROUP}:${CAROUSEL_PORT}`, '--broker-port', String(BROKER_PORT));
    const he = spawnLines(systemProgram('ip', 'iproute2'), args, { cwd: work, now: this.now });
    this.#children.push(he);
    await he.waitFor((o) => o.event === 'ready', this.#o.stepTimeoutMs * 2, 'head-end in its namespace');
    void he.exited.then((code) => {
      if (!this.#stopping) this.#o.log(`lab: the head-end exited (${code}): ${he.stderr().slice(-400)}`);
    });
  }

  #boxArgs(i: number): string[] {
    return boxArgs({ profile: this.#o.profile, boxId: `plant-${i}`, password: undefined, headend: `mqtt://${HEADEND_ADDR}:${BROKER_PORT}`, carousel: `udp://${GROUP}:${CAROUSEL_PORT}` });
  }

  /** Box i natively or under qemu-user; or, given `vm` (qemu-system's command), the VM box. */
  #startBox(i: number, firmware: string, masterKey: string, qemu: QemuBox | undefined, vm: string[] | undefined): LineChild {
    const fw = vm === undefined ? firmwareCommand(qemu ?? {}, this.#boxArgs(i)) : { cmd: vm[0] as string, args: vm.slice(1) };
    const env = { PATH: process.env.PATH ?? '', WEFT_BOX_PASSWORD: derivedBoxSecret(masterKey, `plant-${i}`) };
    const c = spawnLines(systemProgram('ip', 'iproute2'), ['netns', 'exec', this.#ns(`b${i}`), fw.cmd, ...fw.args], { cwd: firmware, env, now: this.now });
    this.#children.push(c);
    return c;
  }

  async #script(work: string, kit: Arm64Kit | undefined): Promise<PlantResult> {
    const o = this.#o;
    const built = (await build({ out: join(work, 'dist'), keys: join(work, 'keys'), quiet: true })) as { firmware: { dir: string } };
    // The arm64 box as `lab arm64` runs it: the profile's CPU model, from the firmware's snapshot.
    const cpu = labLimits(profileById(o.profile)).cpu;
    const qemu = kit === undefined ? undefined : { arm64: kit, cpu, snapshot: (await ensureSnapshot({ firmware: built.firmware.dir, cache: labCacheDir(), arm64: kit, cpu, log: o.log })).blob };
    const masterKey = randomBytes(24).toString('base64url');
    const vm = this.#vmKit === undefined ? undefined : await this.#vmCommand(this.#vmKit, work, built.firmware.dir, masterKey);
    await this.#startHeadend(work, masterKey);
    const roles = Array.from({ length: o.boxes }, (_, i) => roleOf(i));
    for (const [i, r] of roles.entries()) if (r === 'cut-from-boot') await this.#cut(i);
    for (const [i, r] of roles.entries()) if (r === 'lossy-carousel') await this.#lossy(i);
    this.#check();
    const kinds = roles.map((_, i) => kindOf(o, i));
    o.log(`lab: ${o.boxes} box(es) of ${o.profile}: ${roles.map((r, i) => `plant-${i} ${r}${kinds[i] === 'native' ? '' : ` (${kinds[i] === 'vm' ? 'a VM on a tap' : 'arm64 under qemu-user'})`}`).join(', ')}`);
    this.#check();
    const t0 = this.now();
    const boxes = roles.map((_, i) => this.#startBox(i, built.firmware.dir, masterKey, kinds[i] === 'arm64' ? qemu : undefined, kinds[i] === 'vm' ? vm : undefined));
    const findings: string[] = [];
    const boot = await Promise.all(
      boxes.map(async (c, i) => {
        const want = roles[i] === 'cut-from-boot' ? 'degraded' : 'up';
        // A box that does not get there is a finding (with its last words), not the end of the plant.
        const l = await c.waitFor((x) => x.kind === 'state' && x.to === want, o.stepTimeoutMs, `plant-${i} (${roles[i]}) reaching ${want}`).catch((e: unknown) => {
          findings.push((e as Error).message);
          return undefined;
        });
        const path = c.lines.filter((x) => x.o.kind === 'state').map((x) => String(x.o.to));
        const bootState = l === undefined ? (path.at(-1) ?? 'off') : want;
        return { id: `plant-${i}`, role: roles[i] as BoxRole, arm64: kinds[i] !== 'native', vm: kinds[i] === 'vm', bootMs: Math.round((l?.atMs ?? this.now()) - t0), bootState, path };
      }),
    );
    this.#check();
    const result: PlantResult = { boxes: boot, findings };
    await this.#faults(boxes, result);
    return result;
  }

  /**
   * Box 1 (degraded since boot) gets its path back first, while its background backoff is still
   * short (it grows to a 60 s cap: loader/channel-manager.ts); then box 0 (up) is cut, and
   * restored once it noticed. Times are what the boxes say, as their lines arrive.
   */
  async #faults(boxes: LineChild[], result: PlantResult): Promise<void> {
    const o = this.#o;
    const r1 = result.boxes[1];
    if (r1 !== undefined) await this.#restore(1);
    if (r1?.bootState === 'degraded') {
      o.log('lab: restored the return path of plant-1 (cut since boot)');
      r1.recoverMs = await this.#until(boxes[1] as LineChild, (x) => x.kind === 'state' && x.to === 'up', 'plant-1 recovering after the restore', result);
    }
    this.#check();
    await this.#cutOnceUp(0, boxes, result);
    // The arm64 and VM boxes, when they are others than box 0, get the same cut after box 0's.
    for (const [i, b] of result.boxes.entries()) if (i > 0 && b.arm64) await this.#cutOnceUp(i, boxes, result);
  }

  /** The VM box's qemu-system command (plant-vm.ts): from the firmware's snapshot made for the VM's CPU model. */
  async #vmCommand(kit: VmKit, work: string, firmware: string, masterKey: string): Promise<string[]> {
    const i = this.#o.boxes - 1;
    const cpu = labLimits(profileById(this.#o.profile)).cpu;
    const snapshot = (await ensureSnapshot({ firmware, cache: labCacheDir(), arm64: kit.arm64, cpu, log: this.#o.log })).blob;
    return vmBoxCommand(kit, { work, firmware, snapshot, profile: this.#o.profile, box: this.#boxArgs(i), password: derivedBoxSecret(masterKey, `plant-${i}`), addr: `${SUBNET}.${10 + i}` });
  }

  /** Cut box i's return path once it is up, restore it when the box noticed (or after the timeout), time both. */
  async #cutOnceUp(i: number, boxes: LineChild[], result: PlantResult): Promise<void> {
    const b = result.boxes[i];
    const c = boxes[i];
    if (b === undefined || c === undefined || b.bootState !== 'up') return;
    await this.#cut(i);
    this.#o.log(`lab: cut the return path of ${b.id}`);
    const lost = (x: Record<string, unknown>): boolean => (x.kind === 'link' && x.up === false) || (x.kind === 'state' && x.from === 'up');
    b.detectMs = await this.#until(c, lost, `${b.id} noticing its cut return path`, result);
    this.#check();
    await this.#restore(i);
    this.#o.log(`lab: restored the return path of ${b.id}`);
    // A box that never noticed the cut has nothing to recover from.
    if (b.detectMs !== undefined) b.recoverMs = await this.#until(c, (x) => x.kind === 'state' && x.to === 'up', `${b.id} recovering after the restore`, result);
  }

  /** ms from now until the box prints a matching line; undefined (and a finding) when it does not in time. */
  async #until(c: LineChild, match: (x: Record<string, unknown>) => boolean, what: string, result: PlantResult): Promise<number | undefined> {
    const t = this.now();
    const l = await c.waitFor((x, line) => line.atMs >= t && match(x), this.#o.stepTimeoutMs, what).catch((e: unknown) => {
      result.findings.push((e as Error).message);
      return undefined;
    });
    return l === undefined ? undefined : Math.round(l.atMs - t);
  }
}

/** The plant's table: one row per box. */
export function plantTable(r: PlantResult): string {
  const rows = [['box', 'role', 'boot ms', 'boot end', 'detect ms', 'recover ms', 'boot path']];
  for (const b of r.boxes) rows.push([`${b.id}${b.vm ? ' (vm)' : b.arm64 ? ' (arm64)' : ''}`, b.role, String(b.bootMs), b.bootState, String(b.detectMs ?? '-'), String(b.recoverMs ?? '-'), b.path.join('>')]);
  const w = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  return rows.map((row) => row.map((c, i) => (i < 6 ? c.padEnd(w[i] ?? 0) : c)).join('  ')).join('\n');
}
