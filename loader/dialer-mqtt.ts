// The Dialer port over MQTT (transport/mqtt.ts, role `box`): one connect attempt whose dead-path
// timeout is 3 x the RTT estimate + 50 ms (more with RTT variance), doubled per consecutive
// timeout, confirmed over the local loop's lag before the verdict. Once up, the link is probed
// by broker-answered PINGREQs every 4 s, and reconnects on its own with jittered backoff.
// The client is the box's own MQTT 3.1.1 client (transport/mqtt-lite.ts), not mqtt.js: the
// firmware carries ~6 KB for it instead of ~90 KB. A dial that timed out keeps its connection for
// a late CONNACK (issue 13.4): the next request waits on it again, and a CONNACK between requests
// goes to the box through `onLate`.

import { rejectUnknown } from '../runtime/index.ts';
import { type MqttTransport, connectMqttTransport } from '../transport/mqtt.ts';
import { SuspectPathError } from '../transport/mqtt-errors.ts';
import { liteMqttClient } from '../transport/mqtt-lite.ts';
import type { MqttLogEvent } from '../transport/mqtt-options.ts';
import { eventLoopLag } from '../transport/lag.ts';
import type { BackoffPolicy, DeadPathPolicy } from '../transport/reconnect.ts';
import type { DialRequest, Dialer, ReturnChannel } from './ports.ts';

/**
 * [13.1, 13.8] A box that lost its broker tries again within 5 s (uniform), not the transport's
 * 10 s: with the re-open jitter after NO_SESSION (up to 2 s) and the open itself, a restarted
 * head-end has every box back in a working session within 10 s (p99). A million boxes then
 * arrive at ~200k connects/s, spread evenly (docs/OPERATIONS.md section 7).
 */
export const BOX_RECONNECT: Readonly<Partial<BackoffPolicy>> = { windowMs: 5000 };

export interface MqttDialerOptions {
  /** Broker URL of the head-end, `mqtt://host:port`. */
  url: string;
  boxId: string;
  password?: string;
  prefix?: string;
  /** Reconnect backoff of an established link that dropped. Default: the transport's, with BOX_RECONNECT's 5 s spread window. */
  backoff?: Partial<BackoffPolicy>;
  /** Dead-path policy beside the RTT (factor, margin, ceiling, idle probe, lag source). Default 3 x RTT + 45 ms (the verdict within 3 RTT + 50 on an idle CPU), at most 10 s; an idle link probed after 4 s of silence (a silent cut found within 5 s); lag: this process's event-loop saturation (transport/lag.ts eventLoopLag); lateMs: BOX_LATE_MS (a timed-out dial's connection kept 5 s for a late CONNACK). */
  deadPath?: Partial<Omit<DeadPathPolicy, 'initialRttMs'>>;
  keepaliveSec?: number;
  log?: (e: MqttLogEvent) => void;
}

/**
 * [13.4] How long a dial's connection stays open past its dead-path verdict for a late CONNACK, ms
 * from its CONNECT: as long as the reconnect spread window. A broker that has not answered a
 * CONNECT in 5 s is far behind; a box that then dials afresh (jittered) costs it no more than the
 * waiting. The 500-box boot saw CONNACKs up to ~2.4 s after the CONNECT (docs/PERFORMANCE.md).
 */
export const BOX_LATE_MS = 5000;

/** The box's dead-path margin beside 3 x RTT, ms: the verdict within 3 RTT + 50 ms on an idle CPU. */
export const DEAD_PATH_MARGIN_MS = 45;

/** The request a transport's late channel and link changes go to: the latest one that waited on it. */
interface Route {
  req: DialRequest;
}

/** The transport of a dial that timed out with its connection kept. */
interface Kept {
  t: MqttTransport;
  route: Route;
  /** A request waits on it now (the late channel goes to that request, not to onLate). */
  waiting: boolean;
  /** It came up and was handed to the box: no longer this dialer's to close. */
  handed: boolean;
  /** [19] Verdicts a late busy answer undid, already told (`onBusy`). */
  told: number;
}

export function mqttDialer(o: MqttDialerOptions): Dialer {
  rejectUnknown('mqttDialer', o, ['url', 'boxId', 'password', 'prefix', 'backoff', 'deadPath', 'keepaliveSec', 'log']);
  const lag = o.deadPath?.lag ?? eventLoopLag(); // [13.4] one per dialer: it reads counters, runs no timer
  let kept: Kept | undefined;
  const channel = (t: MqttTransport): ReturnChannel => ({ transport: t, rttMs: () => t.rttMs, verdictsUndone: t.verdictsUndone });

  /** [19] Verdicts a late busy answer undid since last told go to `req` (the box then behaves as if told busy in time). */
  const tell = (k: Kept, req: DialRequest): void => {
    const n = k.t.stats().busyUndone - k.told;
    k.told += n;
    if (n > 0) req.onBusy?.(n);
  };

  /** Keep a transport whose start timed out with its connection open: a late CONNACK goes to the box. */
  const keep = (t: MqttTransport, route: Route): void => {
    const k: Kept = { t, route, waiting: false, handed: false, told: 0 };
    kept = k;
    void t.late.then((up) => {
      if (kept === k) kept = undefined;
      if (!up) tell(k, k.route.req); // given up: answered busy, the box dials again after the busy backoff
      if (!up || k.waiting) return; // given up, or the waiting request takes it
      k.handed = k.route.req.onLate?.(channel(t)) === true;
      if (!k.handed) void t.close();
    });
  };

  /** A retry while a dial's connection is kept: wait on that CONNECT again, sending no second one. */
  const again = async (k: Kept, req: DialRequest): Promise<ReturnChannel> => {
    k.route.req = req;
    k.waiting = true;
    try {
      await k.t.retryStart();
      k.handed = true;
      return channel(k.t);
    } finally {
      k.waiting = false;
      tell(k, req); // before the request's outcome: its round counts without the undone verdicts
    }
  };

  const dialer: Dialer = async (req) => {
    const k = kept;
    if (k !== undefined && k.t.lingering) return again(k, req);
    kept = undefined;
    if (k !== undefined && !k.handed) void k.t.close(); // past its keeping: no CONNECT of ours may take the new one over
    const route: Route = { req };
    try {
      const t = await connectMqttTransport({
        role: 'box',
        client: liteMqttClient,
        url: o.url,
        id: o.boxId,
        ...(o.password === undefined ? {} : { password: o.password }),
        ...(o.prefix === undefined ? {} : { prefix: o.prefix }),
        backoff: { ...BOX_RECONNECT, ...o.backoff },
        ...(o.keepaliveSec === undefined ? {} : { keepaliveSec: o.keepaliveSec }),
        // The verdict must land within 3 RTT + 50 ms including the loader's own handling, so the
        // timer fires 5 ms before that. A path that timed out before gets twice the time next.
        // [13.5] 4 s of silence + a probe timeout of 3 RTT + 45 ms, at least 500 ms (the transport's
        // linkFloorMs, D84): a silent cut shows within 5 s for RTTs up to ~300 ms, at one PINGREQ
        // per idle box per 4 s, answered by the broker.
        deadPath: { marginMs: DEAD_PATH_MARGIN_MS, idleProbeMs: 4000, lateMs: BOX_LATE_MS, ...o.deadPath, lag, initialRttMs: req.rttMs * 2 ** Math.min(req.consecutiveTimeouts, 6) },
        log: o.log ?? (() => {}),
        // Link changes go to the request whose channel this became (a late one: a later request's).
        onLink: (state, cause) => route.req.onLink(state, cause),
      });
      return channel(t);
    } catch (e) {
      if (e instanceof SuspectPathError) keep(e.transport, route);
      throw e;
    }
  };
  dialer.close = async () => {
    const k = kept;
    kept = undefined;
    if (k !== undefined && !k.handed) await k.t.close();
  };
  return dialer;
}
