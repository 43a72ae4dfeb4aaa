// The Tuner port over UDP (carousel/udp-io.ts): join the carousel's multicast group, or listen
// on a unicast port where multicast is unavailable, and hand every datagram to the acquirer.

import { listenUdp } from '../carousel/index.ts';
import { ArgumentError } from '../runtime/index.ts';
import type { Tuner } from './ports.ts';

/** `udp://239.10.0.1:5500` (a multicast group) or `udp://127.0.0.1:5500` (listen on that address). */
export function udpTuner(url: string): Tuner {
  const u = parseUdpUrl(url);
  const first = Number(u.host.split('.')[0]);
  const multicast = first >= 224 && first <= 239;
  return {
    tune: async (onData) => {
      const l = await listenUdp(multicast ? { port: u.port, group: u.host } : { port: u.port, host: u.host }, onData);
      return { close: () => l.close() };
    },
  };
}

export function parseUdpUrl(url: string): { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ArgumentError(`bad carousel url "${url}" (udp://host:port)`, 'carousel');
  }
  const port = Number(u.port);
  if (u.protocol !== 'udp:' || u.hostname === '' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ArgumentError(`bad carousel url "${url}" (udp://host:port)`, 'carousel');
  }
  return { host: u.hostname, port };
}
