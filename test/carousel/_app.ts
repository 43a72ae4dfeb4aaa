// Shared fixtures for the carousel tests: deterministic module sets and a stream runner.

import {
  Broadcaster,
  type CarouselOptions,
  type CarouselReceiver,
  type DsmccMessage,
  type ModuleKind,
  type ModuleSet,
  SectionDepacketizer,
  TS_PACKET,
  type Tier,
  decodeSection,
  makeModule,
  parseTsHeader,
} from '../../carousel/index.ts';
import { seededRandom } from '../../runtime/index.ts';

/** Deterministic test randomness (runtime's mulberry32). */
export const prng = seededRandom;

export function randomBytes(n: number, seed: number): Uint8Array {
  const r = prng(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

/** A small app: manifest + signature + client modules in boot, mutable/client in the fallbacks. */
export function smallApp(seed = 1, version = '1.0.0'): ModuleSet {
  const spec: [string, ModuleKind, Tier, number][] = [
    ['manifest.json', 'manifest', 'boot', 1200],
    ['manifest.sig', 'signature', 'boot', 64],
    ['ui.js', 'client', 'boot', 9000],
    ['keys.js', 'client', 'boot', 4066], // exactly one block
    ['search.js', 'mutable', 'fallback-1', 20000],
    ['epg.js', 'client', 'fallback-2', 13000],
    ['empty.js', 'client', 'fallback-2', 0],
  ];
  return { appId: 'guide', version, modules: spec.map(([name, kind, tier, n], i) => makeModule(name, kind, tier, randomBytes(n, seed * 100 + i))) };
}

/** Feed `rx` datagrams from `b` until done (or `max`), dropping/reordering with `impair`. Returns datagrams pulled. */
export function run(b: Broadcaster, rx: CarouselReceiver, max = 20_000, impair?: (d: Uint8Array, i: number) => Uint8Array[]): number {
  let i = 0;
  for (; i < max && !rx.done; i++) {
    const d = b.nextDatagram() as Uint8Array;
    for (const x of impair ? impair(d, i) : [d]) rx.push(x);
  }
  return i;
}

export function broadcaster(set: ModuleSet = smallApp(), options: CarouselOptions = {}): Broadcaster {
  return new Broadcaster(set, { bitrate: 2_000_000, ...options });
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Decode every DSM-CC message in a run of TS bytes (carousel PID), with the packet index where it ended. */
export function messages(ts: Uint8Array, pid = 0x200): { at: number; msg: DsmccMessage }[] {
  const dp = new SectionDepacketizer(pid);
  const out: { at: number; msg: DsmccMessage }[] = [];
  for (let i = 0; i * TS_PACKET < ts.length; i++) {
    const p = ts.subarray(i * TS_PACKET, (i + 1) * TS_PACKET);
    const h = parseTsHeader(p);
    if (h.pid === pid) dp.push(p, h, (s) => out.push({ at: i, msg: decodeSection(s) }));
  }
  return out;
}

/** `n` datagrams of a broadcaster as one byte string. */
export function take(b: Broadcaster, n: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < n; i++) parts.push(b.nextDatagram() as Uint8Array);
  return Buffer.concat(parts);
}

/**
 * A lossy link for carousel datagrams, drawn from `r` once per datagram: below `lost` it is
 * dropped, below `duplicated` delivered twice, below `swapped` held back and delivered after the
 * next one (the bounds are cumulative).
 */
export function impairment(r: () => number, lost: number, duplicated: number, swapped: number): (d: Uint8Array) => Uint8Array[] {
  let held: Uint8Array | undefined;
  return (d) => {
    const x = r();
    if (x < lost) return [];
    if (x < duplicated) return [d, d];
    if (x < swapped && held === undefined) {
      held = d;
      return [];
    }
    const out = held === undefined ? [d] : [d, held];
    held = undefined;
    return out;
  };
}
