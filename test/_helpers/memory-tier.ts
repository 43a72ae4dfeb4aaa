// Small parts the deterministic head-end tests (memoryNode on a MemoryNet, one ManualClock) all
// use: a low-end box's report, a box channel on the net, one turn of queued work, stepping the
// clock in quarter heartbeats, a policy that keeps sessions where they are opened. No ava imports:
// the benchmarks use these too.
import { Channel, ok, type ChannelOptions, type Clock, type Envelope, type ManualClock, type ResourceReport } from '../../runtime/index.ts';
import type { PlacementPolicy } from '../../policy/index.ts';
import type { MemoryNet, MemoryUdp } from './memory-net.ts';

/** A low-end box's resource report (legacy-sd, 1 MiB free, taken at time 0). */
export const lowEndReport = (boxId: string): ResourceReport => ({ boxId, profile: 'legacy-sd', freeMemoryBytes: 1 << 20, appMemoryBytes: 4 << 20, cpuClass: 'low', cpuLoad: 0, storageFreeBytes: 0, sandboxBytes: 0, twoWayUp: true, at: 0 });

/** Let every envelope, registry write and portion message already queued run (no time passes). */
export const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Keeps every session on the node that places it. */
export const here = (id: string): PlacementPolicy => ({ name: 'here', place: (view) => ok({ node: id, index: view.nodes.findIndex((n) => n.node === id), score: 0 }) });

/** `advance(ms)`: the clock moves on by `ms` in steps of a quarter heartbeat, queued work settling after each. */
export function clockStepper(clock: ManualClock, intervalMs: number): (ms: number) => Promise<void> {
  return async (ms) => {
    for (let left = ms; left > 0; left -= intervalMs / 4) {
      clock.advance(Math.min(left, intervalMs / 4));
      await settle();
    }
  };
}

/**
 * A box (`weft://box/b/inbox`) on `net`: a channel timed by `clock` (requests time out after 15 s
 * unless `timeoutMs` says otherwise), fed every envelope its transport receives, `tap` first.
 */
export function memoryBox(net: MemoryNet, clock: Clock, options: Partial<ChannelOptions> & { tap?: (e: Envelope) => void } = {}): { box: Channel; transport: MemoryUdp } {
  const { tap, ...extra } = options;
  const transport = net.open();
  const box = new Channel({ self: { vaddr: 'weft://box/b/inbox', udp: transport.address.udp }, write: (e: Envelope) => transport.send(e), clock, timeoutMs: 15_000, ...extra });
  transport.onEnvelope((e) => {
    tap?.(e);
    box.receive(e);
  });
  return { box, transport };
}
