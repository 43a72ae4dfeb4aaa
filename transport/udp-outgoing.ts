// One reliable transfer waiting for its acknowledgement: the encoded envelope, which fragments
// the receiver is known to hold (from NACKs), retransmission state. No I/O; udp.ts drives it.

import { LATE_TIMER_MS, type Envelope, type SendDone } from '../runtime/index.ts';
import { bitmapBytes, hasBit } from './udp-framing.ts';
import type { Peer } from './udp-peers.ts';


export class Outgoing {
  readonly transfer: number;
  readonly peer: Peer;
  readonly count: number;
  readonly fragmentBytes: number;
  /** Absolute deadline (clock ms), Infinity when the envelope has none. */
  readonly deadline: number;
  readonly sentAt: number;
  /** The envelope sent, told back to `done` (one callback serves every post). */
  readonly env: Envelope;
  readonly done: SendDone;
  /** Retransmission rounds so far (0: only the first transmission; RTT samples only then). */
  tries = 0;
  rto = 0;
  /** When the next retransmission round is due (clock ms); a queue entry with another due is stale. */
  due = 0;
  #putOff = false;
  #held: Uint8Array | undefined;
  #have = 0;
  /** The encoded envelope: `room` bytes in front of it and `tail` behind (encodeForDatagram). */
  #framed: Uint8Array;
  #room: number;
  #tail: number;
  #bytes: Uint8Array | undefined;

  /**
   * The give-up verdict's timer fired more than LATE_TIMER_MS after `due`: this process's loop was
   * stalled, and timers run before input in a loop turn. Put the verdict off one timeout (`rto`,
   * at least a turn), once, so an acknowledgement already received, or one a peer stalled with us
   * sends as soon as it runs, is read first (slow is not dead).
   */
  putOffLate(now: number): boolean {
    if (this.#putOff || now - this.due <= LATE_TIMER_MS) return false;
    this.#putOff = true;
    this.due = now + Math.max(1, this.rto);
    return true;
  }

  constructor(
    transfer: number,
    peer: Peer,
    framed: Uint8Array,
    room: number,
    tail: number,
    count: number,
    fragmentBytes: number,
    deadline: number,
    now: number,
    env: Envelope,
    done: SendDone,
  ) {
    this.transfer = transfer;
    this.peer = peer;
    this.#framed = framed;
    this.#room = room;
    this.#tail = tail;
    this.count = count;
    this.fragmentBytes = fragmentBytes;
    this.deadline = deadline;
    this.sentAt = now;
    this.env = env;
    this.done = done;
  }

  resolve(): void {
    this.done(undefined, this.env);
  }

  reject(e: Error): void {
    this.done(e, this.env);
  }

  /** The encoded envelope; a view made only when a round re-sends it (a reply usually acks it first). */
  get bytes(): Uint8Array {
    return (this.#bytes ??= this.#framed.subarray(this.#room, this.#framed.length - this.#tail));
  }

  fragment(i: number): Uint8Array {
    return this.bytes.subarray(i * this.fragmentBytes, (i + 1) * this.fragmentBytes);
  }

  /** Indexes of fragments the receiver is not known to hold, in order. */
  missing(): number[] {
    const out: number[] = [];
    const held = this.#held;
    for (let i = 0; i < this.count; i++) if (held === undefined || !hasBit(held, i)) out.push(i);
    return out;
  }

  /** Merge a NACK's bitmap; true when it shows fragments not known held before. */
  merge(received: Uint8Array): boolean {
    const held = (this.#held ??= new Uint8Array(bitmapBytes(this.count)));
    let have = 0;
    for (let b = 0; b < held.length; b++) {
      held[b] = (held[b] as number) | (received[b] as number);
      have += popcount(held[b] as number);
    }
    const progress = have > this.#have;
    this.#have = have;
    return progress;
  }
}

function popcount(x: number): number {
  let n = 0;
  for (let v = x; v !== 0; v &= v - 1) n++;
  return n;
}
