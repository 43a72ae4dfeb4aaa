// headend/releases: published app versions, rollout plans and the admin API (issue 15).
export { Releases } from './releases.ts';
export type { PublishInput, ReleaseOutcome, ReleaseSummary } from './releases.ts';
export { releaseRoutes } from './routes.ts';
export { attachReleases } from './attach.ts';
export { MemoryReleaseStore, RELEASE_STATES, compareVersions } from './store.ts';
export type { Release, ReleaseState, ReleaseStore, NewRelease } from './store.ts';
export { DEFAULT_PLAN, parsePlan, waveOf, decideWave } from './plan.ts';
export type { Plan, Wave, WaveCounts, WaveDecision } from './plan.ts';
