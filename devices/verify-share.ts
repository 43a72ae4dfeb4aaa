// One signature verification per (bytes, key, signature) in a process of emulated boxes [issue 15]:
// the boxes of a fleet process read the same carousel, so each verified the same manifest and
// rollout directive once per box, queued on the process's crypto threads. Emulator only: a real box
// (and a box the emulator runs alone) verifies its own; a wrong signature or byte still fails.

import { createHash } from 'node:crypto';
import { ArgumentError, positiveInt } from '../runtime/index.ts';
import { type TrustedKey, verifySignature } from '../runtime/app/index.ts';

export interface VerifyShareStats {
  /** Verifications run (a miss: the first box to ask). */
  verified: number;
  /** Answers given from a verification another box ran (or is running). */
  shared: number;
  /** Verifications that said no (bad signature or bytes): kept too, each box is told no. */
  refused: number;
  /** Entries dropped for room (oldest first). */
  evicted: number;
  entries: number;
}

const DEFAULT_MAX = 1024;

/**
 * The verdicts of one process, keyed by SHA-256 of the bytes, the key (id and raw public key) and
 * the signature. Bounded (`maxEntries`, least recently used out first); a verification that throws
 * is not kept. A box takes it through its trusted keys (`keys()`): runtime/app/signing.ts asks a
 * key's `verify` when it has one.
 */
export class VerifyShare {
  #max: number;
  #verdicts = new Map<string, Promise<boolean>>();
  #stats = { verified: 0, shared: 0, refused: 0, evicted: 0 };

  constructor(options: { maxEntries?: number } = {}) {
    for (const k of Object.keys(options)) if (k !== 'maxEntries') throw new ArgumentError(`VerifyShare: unknown option "${k}"`, k);
    this.#max = positiveInt('VerifyShare', 'maxEntries', options.maxEntries ?? DEFAULT_MAX, 1_000_000);
  }

  stats(): VerifyShareStats {
    return { ...this.#stats, entries: this.#verdicts.size };
  }

  /** The box's trusted keys, each verifying through this share. */
  keys(trusted: readonly TrustedKey[]): TrustedKey[] {
    return trusted.map((k) => {
      const own: TrustedKey = k.name === undefined ? { keyId: k.keyId, publicKey: k.publicKey } : { keyId: k.keyId, publicKey: k.publicKey, name: k.name };
      return { ...own, verify: (bytes: Uint8Array, sig: Uint8Array) => this.verify(bytes, sig, own) };
    });
  }

  /** Whether `sig` signs `bytes` for `key`: verified once in this process, then answered from the share. */
  verify(bytes: Uint8Array, sig: Uint8Array, key: TrustedKey): Promise<boolean> {
    const id = `${key.keyId}.${hex(key.publicKey)}.${hex(sig)}.${createHash('sha256').update(bytes).digest('hex')}`;
    const known = this.#verdicts.get(id);
    if (known !== undefined) {
      this.#stats.shared++;
      this.#verdicts.delete(id); // most recently used goes last
      this.#verdicts.set(id, known);
      return known;
    }
    this.#stats.verified++;
    // The key without its hook: the share runs the real check, never itself.
    const p = verifySignature(bytes, sig, { keyId: key.keyId, publicKey: key.publicKey }).then(
      (ok) => {
        if (!ok) this.#stats.refused++;
        return ok;
      },
      (e: unknown) => {
        if (this.#verdicts.get(id) === p) this.#verdicts.delete(id); // not a verdict: the next box tries again
        throw e;
      },
    );
    this.#verdicts.set(id, p);
    for (const oldest of this.#verdicts.keys()) {
      if (this.#verdicts.size <= this.#max) break;
      this.#verdicts.delete(oldest);
      this.#stats.evicted++;
    }
    return p;
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
