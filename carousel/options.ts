// Options of the broadcaster: names, defaults and validation (unknown names are refused).
// Each default says why it is what it is; docs/CAROUSEL.md repeats them for operators.

import { ArgumentError, nonNegative, positiveInt, rejectUnknown } from '../runtime/index.ts';
import type { Compatibility } from './descriptors.ts';
import { MAX_BLOCK_SIZE } from './dsmcc.ts';
import { TIERS, type Tier } from './module-set.ts';

export interface FecOptions {
  /**
   * Repair symbols per source symbol of each code block. Default 0.25: a box that misses more
   * than that in one pass of the ring still gets them on the next, and fewer full-size repair
   * blocks in the ring cost less airtime (bench/carousel.ts).
   */
  ratio?: number;
  /** Largest code block in source symbols (k). Default 128: decoding cost grows with k * losses. */
  maxSourceSymbols?: number;
}

export interface CarouselOptions {
  /** Output rate in bits/s of TS packets. Default 2_000_000 (the cable data channel). */
  bitrate?: number;
  /** How often PAT, PMT, DSI and the boot tier's DIIs are repeated, in ms. Default 500. */
  diiIntervalMs?: number;
  /**
   * How often the DIIs of the fallback tiers are repeated, in ms (rounded to a multiple of
   * diiIntervalMs). Default 1000: their data takes seconds and receivers buffer blocks that
   * arrive before a DII, so repeating them as often as the boot DII only costs bandwidth.
   */
  fallbackDiiIntervalMs?: number;
  /**
   * Relative repetition per tier: a tier's share of the data bandwidth is proportional to
   * repeat x the airtime of its source blocks. Default boot 4, fallback-1 1, fallback-2 1: the
   * boot tier is what every box needs at power-on [c1]; fallbacks only when the two-way channel
   * fails [c2]. docs/CAROUSEL.md shows what other values trade.
   */
  repeat?: Partial<Record<Tier, number>>;
  /** Reed-Solomon repair modules per group, or false for none. Default { ratio: 0.25, maxSourceSymbols: 128 }. */
  fec?: FecOptions | false;
  /** DDB payload bytes. Default 4066, the most one section holds (fewest headers per byte). */
  blockSize?: number;
  /** `tiered` (per-tier repetition) or `plain` (every module once per cycle, the classic carousel). Default tiered. */
  schedule?: 'tiered' | 'plain';
  /** PID of the carousel sections. Default 0x0200. */
  pid?: number;
  /** PID of the PMT. Default 0x0100. */
  pmtPid?: number;
  /** MPEG program number. Default 1. */
  programNumber?: number;
  /** transport_stream_id in the PAT. Default 1. */
  transportStreamId?: number;
  /** downloadId of DII and DDB. Default: derived from the app id, so it survives republishing. */
  downloadId?: number;
  /** compatibilityDescriptor content. Default: specifier OUI 0x000000, model 0x5746 ('WF'), version 1. */
  compat?: Compatibility;
  /** TS packets per UDP datagram. Default 7 (1316 bytes: fits a 1500-byte MTU with IP/UDP headers). */
  packetsPerDatagram?: number;
}

export interface ResolvedOptions {
  bitrate: number;
  diiIntervalMs: number;
  fallbackDiiIntervalMs: number;
  repeat: Record<Tier, number>;
  fec: Required<FecOptions> | false;
  blockSize: number;
  schedule: 'tiered' | 'plain';
  pid: number;
  pmtPid: number;
  programNumber: number;
  transportStreamId: number;
  downloadId: number | undefined;
  compat: Compatibility;
  packetsPerDatagram: number;
}

const KEYS = ['bitrate', 'diiIntervalMs', 'fallbackDiiIntervalMs', 'repeat', 'fec', 'blockSize', 'schedule', 'pid', 'pmtPid', 'programNumber', 'transportStreamId', 'downloadId', 'compat', 'packetsPerDatagram'];

export function resolveOptions(o: CarouselOptions = {}): ResolvedOptions {
  const W = 'Broadcaster';
  rejectUnknown(W, o, KEYS);
  rejectUnknown(`${W}.repeat`, o.repeat, TIERS);
  if (o.fec !== undefined && o.fec !== false) rejectUnknown(`${W}.fec`, o.fec, ['ratio', 'maxSourceSymbols']);
  const repeat = { boot: 4, 'fallback-1': 1, 'fallback-2': 1 } as Record<Tier, number>;
  for (const t of TIERS) {
    const v = o.repeat?.[t];
    if (v !== undefined) repeat[t] = nonNegative(W, `repeat.${t}`, v);
    if (!(repeat[t] > 0)) throw new ArgumentError(`${W}: repeat.${t} must be > 0`, 'repeat');
  }
  const fec =
    o.fec === false
      ? false
      : {
          ratio: nonNegative(W, 'fec.ratio', o.fec?.ratio ?? 0.25),
          maxSourceSymbols: positiveInt(W, 'fec.maxSourceSymbols', o.fec?.maxSourceSymbols ?? 128, 254),
        };
  const schedule = o.schedule ?? 'tiered';
  if (schedule !== 'tiered' && schedule !== 'plain') throw new ArgumentError(`${W}: schedule must be 'tiered' or 'plain'`, 'schedule');
  const pid = positiveInt(W, 'pid', o.pid ?? 0x0200, 0x1ffe);
  const pmtPid = positiveInt(W, 'pmtPid', o.pmtPid ?? 0x0100, 0x1ffe);
  if (pid === pmtPid) throw new ArgumentError(`${W}: pid and pmtPid must differ`, 'pid');
  return {
    bitrate: positiveInt(W, 'bitrate', o.bitrate ?? 2_000_000, 1_000_000_000),
    diiIntervalMs: atLeast(W, 'diiIntervalMs', o.diiIntervalMs ?? 500, 10),
    fallbackDiiIntervalMs: atLeast(W, 'fallbackDiiIntervalMs', o.fallbackDiiIntervalMs ?? 1000, 10),
    repeat,
    fec: fec !== false && fec.ratio === 0 ? false : fec,
    blockSize: positiveInt(W, 'blockSize', o.blockSize ?? MAX_BLOCK_SIZE, MAX_BLOCK_SIZE),
    schedule,
    pid,
    pmtPid,
    programNumber: positiveInt(W, 'programNumber', o.programNumber ?? 1, 0xffff),
    transportStreamId: nonNegative(W, 'transportStreamId', o.transportStreamId ?? 1) & 0xffff,
    downloadId: o.downloadId === undefined ? undefined : nonNegative(W, 'downloadId', o.downloadId) >>> 0,
    compat: o.compat ?? { oui: 0x000000, model: 0x5746, version: 1 },
    packetsPerDatagram: positiveInt(W, 'packetsPerDatagram', o.packetsPerDatagram ?? 7, 64),
  };
}

function atLeast(where: string, name: string, v: unknown, min: number): number {
  const n = nonNegative(where, name, v);
  if (n < min) throw new ArgumentError(`${where}: ${name} must be at least ${min}, got ${n}`, name);
  return n;
}
