// transport/: Node adapters of the Transport port (runtime/transport.ts), used by box and
// head-end alike. Imports only runtime/. This file lists the public exports by name; types apart.

export { createUdpTransport, UdpTransport } from './udp.ts';
export type { UdpTransportOptions, DropFilter } from './udp-options.ts';
export type { UdpStats, UdpStatsSnapshot } from './udp-stats.ts';
// The datagram framing, for tools and tests that speak it directly (docs/PROTOCOL.md).
export {
  MAGIC,
  FRAME_VERSION,
  TYPE_DATA,
  TYPE_ACK,
  TYPE_NACK,
  FLAG_RELIABLE,
  FLAG_POLL,
  MAX_DATA_HEADER,
  dataHeader,
  ackDatagram,
  nackDatagram,
  parseDatagram,
} from './udp-framing.ts';
export type { Frame, DataFrame, AckFrame, NackFrame, Parsed, Malformed } from './udp-framing.ts';
