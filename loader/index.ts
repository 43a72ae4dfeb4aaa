// loader/: the box [c1, c2, c41, c42, c45]: boot sequence, two-way channel manager, carousel
// acquisition with verification, session setup, warm-boot cache. Imports runtime, transport,
// carousel, sandbox; never headend or devices. Public exports by name; types apart.

export { Box } from './box.ts';
export type { HistoryEntry } from './box-events.ts';
export type { BoxEvent } from './box-events.ts';
export { engineMemoryFor } from './options.ts';
export type { BoxOptions } from './options.ts';
export { BOOT_STATES, BOOT_EVENTS, BOOT_TABLE, ACTIONS, GUARDS, step, formatTable } from './boot-table.ts';
export type { BootState, BootEvent, BootFacts, Transition, Action, Guard } from './boot-table.ts';
export type { Tuner, Tuned, TunerStatus, Dialer, DialRequest, ReturnChannel, LinkEvent, DeviceStorage, Cpu } from './ports.ts';
export { ChannelManager, DEFAULT_CHANNEL_POLICY } from './channel-manager.ts';
export type { ChannelPolicy, ChannelEvent, ChannelStats } from './channel-manager.ts';
export { Acquirer, carouselQuotaFor } from './acquire.ts';
export type { AcquiredApp, AcquireEvent, AcquirerOptions, AcquireStats } from './acquire.ts';
export { ModuleCache, MemoryStorage, DeviceKeyValue } from './module-cache.ts';
export type { AppIndex, CacheStats } from './module-cache.ts';
export { BoxSwitch, LOCAL_SESSION } from './switch.ts';
export type { SwitchStats } from './switch.ts';
export { HostCpu, LoadMeter, cpuClock } from './cpu.ts';
export { UnreachableError, SessionSetupError, TunerError } from './errors.ts';
export { mqttDialer } from './dialer-mqtt.ts';
export type { MqttDialerOptions } from './dialer-mqtt.ts';
export { udpTuner, parseUdpUrl } from './tuner-udp.ts';
export type { UdpTuner, UdpTunerOptions, TunerStats } from './tuner-udp.ts';
export { FolderStorage, nodeFileSystem } from './storage-fs.ts';
export type { FileSystem, FolderStorageOptions, FolderStorageStats } from './storage-fs.ts';
export { RollbackFloor, compareVersions } from './rollback-floor.ts';
export type { RollbackDirective, FloorVerdict, FloorStats } from './rollback-floor.ts';
export { SessionLiveness, NoSessionRetries } from './session-liveness.ts';
export { quotaWaitMs, QUOTA_WAIT_CAP_MS } from './session-quota.ts';
export type { LivenessStats } from './session-liveness.ts';
