// bench/scale's brokers beside the node: what the bench reads of each (its pid, counters, the
// node's own link to it) and how it restarts one for the reconnect storm. Here: the common
// shape, mosquitto (a process of its own: a restart stops it and starts it again on the same
// port with the same users and config), and the node's link as its log lines tell it.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { derivedBoxSecret } from '../headend/broker/broker-auth.ts';
import { startMosquitto, type RunningMosquitto } from '../test/_helpers/mosquitto.ts';

export interface Broker {
  url: string;
  /** [wave 15] The light boxes' listeners (mosquitto with --listeners): they spread over them. With more than one, `url` (the node's and the probe's) is a listener of its own. */
  urls?: string[];
  /** The broker thread's heap in use, bytes (aedes in its worker thread only). */
  heap?: () => number;
  pid: number | undefined;
  /** The embedded broker's refusals (aedes on the loop): what cut a CONNECT before the node saw it. */
  refusals?: () => string;
  /** CONNECTs answered CONNACK 3 by the connect gate (aedes on the loop). */
  busy?: () => number;
  /** [19.6] The broker's counters now, for the storm's timeline. */
  sample?: () => Record<string, number>;
  /** [wave 14] The node's own link to the broker is up (a shared broker: the node is a client that reconnects too). */
  nodeUp?: () => boolean;
  /** [wave 14] When the node's link last came up (performance.now(), NaN: never since it started). */
  nodeUpAt?: () => number;
  restart?: () => Promise<void>;
  stop(): Promise<void>;
}

/**
 * [wave 14] The node's MQTT link as its log lines tell it (`mqtt link: up|down`): whether it is
 * up now and how often it dropped and came back, for a broker the node reaches as a client.
 * `log` is the node's log function; `seen()` the counts for the storm's timeline.
 */
export function nodeLinkWatch(): { log: (line: string) => void; up: () => boolean; upAt: () => number; seen: () => Record<string, number> } {
  let up = true; // startHeadend resolves only once its first connect is up
  let drops = 0;
  let ups = 0;
  let upAt = NaN;
  return {
    log: (line) => {
      if (line.startsWith('mqtt link: down')) {
        up = false;
        drops++;
      } else if (line.startsWith('mqtt link: up')) {
        up = true;
        ups++;
        upAt = performance.now();
      }
    },
    up: () => up,
    upAt: () => upAt,
    seen: () => ({ 'node link up': up ? 1 : 0, 'node link drops': drops, 'node link ups': ups }),
  };
}

/** mosquitto with a user per box id and the node's; `node` watches the node's link for the storm. */
export async function mosquittoBroker(program: string, o: { ids: string[]; master: string; node: string; nodePassword: string; link: ReturnType<typeof nodeLinkWatch>; listeners?: number }): Promise<Broker> {
  const users = [{ id: o.node, role: 'headend' as const, password: o.nodePassword }, ...o.ids.map((id) => ({ id, role: 'box' as const, password: derivedBoxSecret(o.master, id) }))];
  // [wave 16] With several listeners for the boxes the node has one more of its own, as a head-end's
  // link would be on an internal listener: a storm's backlog on the boxes' ports does not hold it back.
  const boxPorts = o.listeners ?? 1;
  const m: RunningMosquitto = await startMosquitto(program, { users, ownPasswordFile: true, listeners: boxPorts > 1 ? boxPorts + 1 : 1 });
  const pidOf = (): number | undefined => {
    const pid = Number(execFileSync('pgrep', ['-n', '-f', join(m.dir, 'mosquitto.conf')]).toString().trim());
    return Number.isFinite(pid) ? pid : undefined;
  };
  const b: Broker = {
    url: m.url,
    urls: boxPorts > 1 ? m.urls.slice(1) : m.urls,
    pid: pidOf(),
    sample: o.link.seen,
    nodeUp: o.link.up,
    nodeUpAt: o.link.upAt,
    restart: async () => {
      await m.restart(); // every connection drops at once, the node's among them; nothing is kept (persistence false)
      b.pid = pidOf();
    },
    stop: () => m.stop(),
  };
  return b;
}
