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
