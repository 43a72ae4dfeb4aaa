// transport/: Node adapters of the Transport port (runtime/transport.ts), used by box and
// head-end alike. Imports only runtime/. This file lists the public exports by name; types apart.

export { createUdpTransport, UdpTransport } from './udp.ts';
export type { UdpTransportOptions, DropFilter } from './udp-options.ts';
// Datagram authentication (docs/PROTOCOL.md, "Authentication"): the trailer and sender ids.
export { AUTH_TRAILER, udpSenderId } from './udp-auth.ts';
export type { UdpAuthOptions } from './udp-auth.ts';
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
  FLAG_AUTH,
  MAX_DATA_HEADER,
  dataHeader,
  ackDatagram,
  nackDatagram,
  parseDatagram,
} from './udp-framing.ts';
export type { Frame, DataFrame, AckFrame, NackFrame, Parsed, Malformed } from './udp-framing.ts';
// The MQTT adapter [c39, c40]: box <-> head-end return channel (docs/PROTOCOL.md, "MQTT topics").
export { connectMqttTransport, MqttTransport, openRawClient } from './mqtt.ts';
export type { RawMqttClient, RawMqttOptions } from './mqtt.ts';
export { LiteMqttClient, liteMqttClient } from './mqtt-lite.ts';
export type { LiteClientOptions } from './mqtt-lite.ts';
export type { MqttClientLike, MqttClientFactory, ClientSpec as MqttClientSpec } from './mqtt-client.ts';
export type { MqttStats, Rejection as MqttRejection } from './mqtt-routing.ts';
export type { MqttTransportOptions, MqttRole, LinkState, MqttLogEvent } from './mqtt-options.ts';
export { LinkDownError, BrokerRefusedError } from './mqtt-errors.ts';
export { TopicScheme, boxAddress, headendAddress, boxOf, isEndpointId, BOX_APP, HEADEND_APP, DEFAULT_PREFIX } from './mqtt-topics.ts';
export type { ParsedTopic } from './mqtt-topics.ts';
export { TokenBuckets, DedupWindow, BoxRoutes } from './mqtt-ingress.ts';
export type { RateLimit } from './mqtt-ingress.ts';
// Connection policy shared by the box loader and the simulator: RTT-derived timeouts, backoff.
export {
  connectTimeoutMs,
  reconnectDelay,
  backoffPolicy,
  deadPathPolicy,
  Reconnector,
  RttEstimator,
  LinkWatch,
  seededRandom,
  DEFAULT_BACKOFF,
  DEFAULT_DEAD_PATH,
} from './reconnect.ts';
export type { BackoffPolicy, DeadPathPolicy } from './reconnect.ts';
