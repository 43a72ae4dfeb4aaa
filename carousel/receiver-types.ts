// The receiver's public types: its options, events and stats (receiver.ts implements them).

import type { CarouselError } from './errors.ts';
import type { CarouselModule, Tier } from './module-set.ts';

/**
 * Modules verified in this process, by SHA-256 (devices/fleet.ts: boxes that want the same bytes
 * share one copy). Filled only by receivers, after their own SHA-256 check; trusted as such.
 */
export interface SharedModules {
  get(sha256: string): Uint8Array | undefined;
  put(sha256: string, bytes: Uint8Array): void;
}

export type ReceiverEvent =
  | { kind: 'dsi'; transactionId: number; appId: string; appVersion: string; groups: number }
  | { kind: 'progress'; tier: Tier; fraction: number; modulesDone: number; modulesTotal: number; bytesTotal: number }
  | { kind: 'module'; module: CarouselModule; repaired: boolean; cached: boolean }
  | { kind: 'tier'; tier: Tier; modules: CarouselModule[] }
  | { kind: 'version'; transactionId: number; previous: number; restarted: string[]; kept: string[] }
  | { kind: 'corrupt'; name: string; error: CarouselError }
  /** A DII whose new modules would take the bytes held past `maxHeldBytes`: none of it is kept. */
  | { kind: 'over-quota'; transactionId: number; modules: string[]; bytes: number; heldBytes: number; quotaBytes: number };

export interface ReceiverOptions {
  /** Tiers to acquire. Default ['boot']. */
  tiers?: Tier[];
  /** PID of the carousel sections. Default 0x0200 (the broadcaster's default). */
  pid?: number;
  /** Accept only this downloadId (when several carousels share a PID). Default: any. */
  downloadId?: number;
  /** Bytes of blocks kept before their DII arrives. Default 16 MiB (and never past `maxHeldBytes`). */
  maxBufferBytes?: number;
  /**
   * Bytes held for modules (announced by a DII, and early blocks), verified or not: a DII that
   * would pass it is refused before a block is kept [issue 12]. Default 64 MiB; a box passes its
   * profile's (loader/acquire.ts `carouselQuotaFor`).
   */
  maxHeldBytes?: number;
  /** Verified modules from device storage by SHA-256 (warm boot): skips acquiring them. */
  cached?: (sha256: string) => Uint8Array | undefined;
  /** Modules other receivers of this process verified: taken without assembling or hashing again. */
  shared?: SharedModules;
  onEvent?: (e: ReceiverEvent) => void;
}

export interface ReceiverStats {
  packets: number;
  badPackets: number;
  sections: number;
  badSections: number;
  discontinuities: number;
  blocks: number;
  /** Blocks not needed: repeats, or of modules that are done or of tiers not requested. */
  duplicateBlocks: number;
  badBlocks: number;
  buffered: number;
  repairedBlocks: number;
  corrupt: number;
  /** Bytes held now: modules announced by accepted DIIs plus blocks waiting for their DII. */
  heldBytes: number;
  /** DIIs refused because their modules would pass `maxHeldBytes` (each counted once). */
  quotaRefused: number;
  /** Blocks of refused DIIs' modules, dropped on arrival. */
  refusedBlocks: number;
  lastError: string | undefined;
}
