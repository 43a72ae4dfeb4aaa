// carousel/: the DSM-CC data carousel in MPEG-TS [c1-c3]. Imports only runtime/ (and node: in
// the hashing, folder-reading and UDP adapter files). This file lists the public exports by name.

export { CarouselError } from './errors.ts';
export type { CarouselErrorWhere } from './errors.ts';
export { MODULE_KINDS, TIERS, CAROUSEL_KINDS, checkModuleSet, carouselModules, makeModule, isModuleKind, isTier } from './module-set.ts';
export type { ModuleSet, CarouselModule, ModuleKind, Tier } from './module-set.ts';
export { moduleSetFromDir } from './module-set-fs.ts';
export type { FromDirOptions } from './module-set-fs.ts';
export { Broadcaster, dumpCycle } from './broadcaster.ts';
export type { BroadcasterStats, CarouselDescription } from './broadcaster.ts';
export type { CarouselOptions, FecOptions } from './options.ts';
export { CarouselReceiver } from './receiver.ts';
export type { ReceiverOptions, ReceiverEvent, ReceiverStats, SharedModules } from './receiver.ts';
export { CarouselDemux, VerifiedModules } from './demux.ts';
export type { DemuxSink, DemuxStats, DemuxOptions } from './demux.ts';
export { serveUdp, listenUdp, freeUdpPort } from './udp-io.ts';
export type { ServeUdpOptions, ListenUdpOptions, UdpServer, UdpServerStats, UdpListener } from './udp-io.ts';
export { listenShared, isLoopback, DEFAULT_CAROUSEL, DEFAULT_CAROUSEL_URL, DEFAULT_CAROUSEL_TARGET } from './udp-share.ts';
export type { ShareOptions, SharedListener } from './udp-share.ts';
// The codecs, for tools and tests that speak the wire format directly (docs/CAROUSEL.md).
export { encodeDsi, encodeDii, encodeDdb, decodeSection, MAX_BLOCK_SIZE, MAX_SECTION, TID_UN_MESSAGE, TID_DDB } from './dsmcc.ts';
export type { DsiMessage, DiiMessage, DdbMessage, DiiModule, DsiGroup, DsmccMessage, BlockKey } from './dsmcc.ts';
export { encodeModuleInfo, decodeModuleInfo } from './descriptors.ts';
export type { ModuleInfo, FecLayout, Compatibility, WireKind } from './descriptors.ts';
export { SectionPacketizer, SectionDepacketizer, parseTsHeader, nullPacket, TS_PACKET } from './ts.ts';
export type { TsHeader, DepacketizerStats } from './ts.ts';
export { encodeRepair, decodeSource } from './fec.ts';
export { crc32mpeg2 } from './crc32.ts';
