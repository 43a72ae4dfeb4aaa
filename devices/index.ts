// devices/: device profiles (data), the box emulator (one box on the hardware a profile
// describes) and the fleet (many in one process), with the CPU throttle and the shaped return
// channel they use. May import every layer but cli/ and bench/. Public exports by name.

export { PROFILES, profile, labLimits } from './profiles.ts';
export type { LabLimits } from './profiles.ts';
export { ThrottledCpu } from './cpu-throttle.ts';
export { ReturnPath } from './return-path.ts';
export type { PathMode, ReturnPathOptions, ReturnPathStats } from './return-path.ts';
export { startEmulatedBox } from './emulator.ts';
export type { EmulatedBox, EmulatedBoxOptions } from './emulator.ts';
export { startFleet, parseMix, assignProfiles, TunerFanout } from './fleet.ts';
export type { Fleet, FleetOptions } from './fleet.ts';
export { LightBox, startLightFleet } from './fleet-light.ts';
export { appOnAir } from './fleet-on-air.ts';
export type { LightBoxOptions, LightEvent, LightFleet, LightFleetOptions, LightState, LightStats } from './fleet-light.ts';
export { FleetWatch } from './fleet-watch.ts';
export { SharedLag, sharedLag } from './shared-lag.ts';
export type { SharedLagStats } from './shared-lag.ts';
export { VerifyShare } from './verify-share.ts';
export type { VerifyShareStats } from './verify-share.ts';
export { BootPacer } from './fleet-pace.ts';
export type { BootProgress, PaceOptions, PaceStats } from './fleet-pace.ts';
export type { ChannelCounts } from './fleet-watch.ts';
export { planProcs, slices, arrivals, boxesPerProcLimit, parseOpenFilesLimit, fdsPerBox } from './fleet-plan.ts';
export type { ProcPlanInput, Slice } from './fleet-plan.ts';
export { FleetProcs, parseSummary } from './fleet-procs.ts';
export type { ChildExit, ChildSummary, FleetProcsOptions, FleetTotals } from './fleet-procs.ts';
