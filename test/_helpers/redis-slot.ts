// The Redis Cluster hash slot of a session's keys, so a test can find the master that serves them.
import { hashSlot } from '../../headend/registry/registry-redis-cluster-keys.ts';

export const slotOf = (tag: string): number => hashSlot(`{${tag}}`);
