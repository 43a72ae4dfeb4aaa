// headend/critical: wait-and-lock for the critical portions of server portions [c20-c24, c28,
// c29]: a FIFO queue lock and a counting semaphore in one thread, a ticket semaphore shared by
// worker threads, and the wait statistics they feed. Exports by name; types apart.

export { QueueLock, Semaphore, WaitLock } from './wait-lock.ts';
export type { Release, AcquireOptions, WaitLockOptions } from './wait-lock.ts';
export { SharedSemaphore, createSharedQueueLock } from './shared-lock.ts';
export type { SharedLockOptions, SharedWaitTotals } from './shared-lock.ts';
export { WaitStats, mergeWaits, waitBucket, bucketMs } from './wait-stats.ts';
export type { WaitStatsOptions, WaitSnapshot, MergedWaits } from './wait-stats.ts';
