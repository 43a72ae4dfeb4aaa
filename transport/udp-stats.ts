// Counters of the UDP transport, read by the statistics process through Transport.stats().
// Gauges (pendingSends, partialTransfers, reassemblyBytes, peers, queued) are added on read.

import type { AuthRefusal } from './udp-auth.ts';
import type { Malformed } from './udp-framing.ts';

export type UdpStats = {
  /** Envelopes handed to send / delivered to the handler. */
  sent: number;
  received: number;
  datagramsOut: number;
  datagramsIn: number;
  /** RTO-driven retransmission rounds, and NACK-driven ones. */
  retransmits: number;
  fastRetransmits: number;
  /** Reliable transfers acknowledged; acks sent alone, and carried on DATA. */
  acked: number;
  acksSent: number;
  acksPiggybacked: number;
  nacksSent: number;
  /** Acks for a transfer we do not have pending (late, duplicated or spoofed). */
  strayAcks: number;
  /** Reliable sends that gave up (TimeoutError), or whose deadline had passed before sending. */
  timeouts: number;
  expired: number;
  /** Transfers that arrived again after delivery (suppressed), and repeated fragments. */
  duplicates: number;
  duplicateFragments: number;
  /** Malformed datagrams in total, and by reason. */
  malformed: number;
  malformedMagic: number;
  malformedHeader: number;
  malformedFragment: number;
  malformedEnvelope: number;
  /** Datagrams longer than this transport's mtu, dropped before anything else (bounds the MAC work). */
  oversized: number;
  /**
   * With auth on: datagrams refused before any state was kept, in total and by reason (no
   * trailer or no AUTH flag, a sender with no key, a tag that does not verify).
   */
  unauthenticated: number;
  authMissing: number;
  authUnknownSender: number;
  authBadTag: number;
  /** Authentic datagrams sent longer than auth.maxAgeMs ago, or that far ahead (clocks out of step). */
  authExpired: number;
  /** Authentic datagrams seen before (or behind the 64-datagram window), and from an earlier boot epoch. */
  replayed: number;
  replayedStale: number;
  /** POLLs not answered with a NACK: bigger than the POLL, or the same state answered within minRtoMs. */
  nacksSuppressed: number;
  /** Fragments refused by a reassembly limit, and partial transfers that timed out. */
  droppedPartialLimit: number;
  droppedBytesLimit: number;
  droppedTooLarge: number;
  reassemblyTimeouts: number;
  /** Envelopes dropped: no handler and the queue full, or queued at close. */
  dropped: number;
  handlerErrors: number;
  socketErrors: number;
  /** Datagrams the test hook dropped. */
  filteredIn: number;
  filteredOut: number;
};

/** What UdpTransport.stats() returns: the counters plus gauges read at that moment. */
export type UdpStatsSnapshot = UdpStats & {
  /** Reliable sends waiting for their ack. */
  pendingSends: number;
  /** Partial transfers and their fragment bytes held for reassembly (bounded by the limits). */
  partialTransfers: number;
  reassemblyBytes: number;
  /** Partial transfers dropped so a peer holding less could get in. */
  evictedPartials: number;
  peers: number;
  /** Senders with a replay window (auth on), and windows forgotten to stay under auth.maxSenders. */
  authSenders: number;
  authSendersEvicted: number;
  /** Envelopes waiting for a handler. */
  queued: number;
};

export function newStats(): UdpStats {
  return {
    sent: 0, received: 0, datagramsOut: 0, datagramsIn: 0, retransmits: 0, fastRetransmits: 0, acked: 0, acksSent: 0,
    acksPiggybacked: 0, nacksSent: 0, strayAcks: 0, timeouts: 0, expired: 0, duplicates: 0, duplicateFragments: 0,
    malformed: 0, malformedMagic: 0, malformedHeader: 0, malformedFragment: 0, malformedEnvelope: 0, oversized: 0,
    unauthenticated: 0, authMissing: 0, authUnknownSender: 0, authBadTag: 0, authExpired: 0, replayed: 0, replayedStale: 0, nacksSuppressed: 0,
    droppedPartialLimit: 0, droppedBytesLimit: 0, droppedTooLarge: 0, reassemblyTimeouts: 0, dropped: 0,
    handlerErrors: 0, socketErrors: 0, filteredIn: 0, filteredOut: 0,
  };
}

/** Count a datagram the auth layer refused, in its total and by reason. */
export function countRefusal(s: UdpStats, why: AuthRefusal): void {
  if (why === 'replayed') s.replayed++;
  else if (why === 'expired') s.authExpired++;
  else if (why === 'stale') s.replayedStale++;
  else {
    s.unauthenticated++;
    if (why === 'missing') s.authMissing++;
    else if (why === 'unknownSender') s.authUnknownSender++;
    else s.authBadTag++;
  }
}

/** Counts a datagram parseDatagram refused, by its reason. */
export function countMalformed(s: UdpStats, why: Malformed): void {
  s.malformed++;
  if (why === 'magic') s.malformedMagic++;
  else if (why === 'header') s.malformedHeader++;
  else s.malformedFragment++;
}
