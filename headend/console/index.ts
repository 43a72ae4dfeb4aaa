// headend/console: the operator console of every head-end process (one HTTP server: state,
// Prometheus metrics, live events, history charts and token-guarded actions).
export { startConsole } from './server.ts';
export type { ConsoleOptions, RunningConsole } from './server.ts';
export { consoleApp } from './app.ts';
export type { ConsoleRoutes } from './app.ts';
export { ConsoleMetrics } from './metrics.ts';
export { History } from './history.ts';
export type { HistoryPoint } from './history.ts';
export { nodeSource } from './node-source.ts';
export { LogRing } from './log-ring.ts';
export type { ConsoleSource, ConsoleSnapshot, ConsoleAction, NodeRow, DrainView, LogLine } from './source.ts';
