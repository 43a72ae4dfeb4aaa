// sim: a discrete-event simulator of a cable plant that runs the same policy code as the
// live head-end (policy/), a worker-thread model for the thread controllers, and a tiny
// SVG chart writer for the plots in docs/. Exports by name; types apart.

export { runPlant } from './plant.ts';
export type { RunResult, RunOptions, SeriesPoint, PolicyFactory, NodeSummary } from './plant.ts';
export { comparePolicies } from './compare.ts';
export { replayTrace } from './replay.ts';
export type { TraceEvent, ReplayNode, ReplayResult } from './replay.ts';
export type { Comparison } from './compare.ts';
export { scenario, unequalServers, diurnalFactor, sessionCost, peakSessionRate, DEFAULT_APPS } from './scenario.ts';
export type { Scenario, AppSpec, ServerSpec, FlashSpec } from './scenario.ts';
export { simulateThreads, reactionMs, throughputBetween } from './threads-sim.ts';
export type { ThreadSimOptions, ThreadSimResult, ThreadSimBin } from './threads-sim.ts';
export { EventHeap } from './heap.ts';
export { LogHistogram } from './histogram.ts';
export { lineChart, barChart, niceTicks, escapeXml } from './svg.ts';
export type { LineChartSpec, LineSeries, BarChartSpec } from './svg.ts';
