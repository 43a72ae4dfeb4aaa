// runtime/: the platform-neutral core shared by box and head-end. No node: imports, no sockets,
// no QuickJS. This file lists the public exports by name; types apart.

export { Codes, codeName, isCode } from './codes.ts';
export type { Code, CodeName } from './codes.ts';
export {
  WeftError,
  DecodeError,
  EncodeError,
  AddressError,
  TimeoutError,
  ChannelClosedError,
  RemoteError,
  ArgumentError,
} from './errors.ts';
export type { WeftErrorOptions } from './errors.ts';
export { ok, fail } from './result.ts';
export type { Result } from './result.ts';
export { rejectUnknown, positiveInt, nonNegative } from './options.ts';
export { VADDR_SCHEME, parseVaddr, formatVaddr, isVaddr, isIpLiteral, checkAddress, formatAddress, sameUdp } from './address.ts';
export type { Address, UdpAddress, VirtualAddress } from './address.ts';
export { systemClock, ManualClock } from './clock.ts';
export { LATE_TIMER_MS, lateOnce } from './late-timer.ts';
export type { Clock, TimerHandle } from './clock.ts';
export { EnvelopeCodec, ENVELOPE_VERSION, KINDS, DEFAULT_MAX_ENVELOPE_BYTES } from './envelope.ts';
export type { Envelope, EnvelopeExt, ErrorBody, Kind, CodecOptions } from './envelope.ts';
export { Channel } from './channel.ts';
export { parseTraceparent, formatTraceparent, newTrace, childSpan, traceSampler, checkSampleRate } from './trace.ts';
export type { TraceContext } from './trace.ts';
export type { ChannelOptions, ChannelStats, SendOptions, RequestHandler, MessageHandler } from './channel.ts';
export { LocalBus, LocalQueueTransport } from './transport-local.ts';
export { postVia } from './transport.ts';
export type { Transport, EnvelopeHandler, SendDone } from './transport.ts';
export { Router } from './router.ts';
export type { Resolver, Route, RouterOptions, RouterStats } from './router.ts';
export { checkProfile, CPU_CLASSES } from './device.ts';
export type { DeviceProfile, DeviceHardware, ResourceReport, RequestOutcomes, ChannelConditions, CpuClass } from './device.ts';
export { SESSIONS_VADDR, STATS_VADDR, SessionOps, modulesVaddr, checkReport, checkOpenRequest, checkOpenReply, checkModuleGet, checkModuleGetReply, checkClientStarted } from './session.ts';
export type { OpenRequest, OpenReply, PlacedModule, ModuleGetRequest, ModuleGetReply, ClientStarted } from './session.ts';
export { seededRandom } from './random.ts';
