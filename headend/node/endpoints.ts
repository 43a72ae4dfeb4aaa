// The names of a node's main-thread endpoints (`weft://headend/<node>/<name>`, and the shared
// `weft://headend/*/<name>` ones any node may serve). Constants only.

import { SERVICES_NAME } from '../portions/portion-protocol.ts';

export const Endpoint = {
  /** Session ingress: session.open / session.close [c41-c45]. */
  sessions: 'sessions',
  /** Module downloads: module.get [c41]. */
  modules: 'modules',
  /** Statistics and timing: node reports, heartbeats, box reports [c16, c24]. */
  stats: 'stats',
  /** Node-to-node control: portion.start/stop, replica ops [c17]. */
  control: 'control',
  /** The service host [c34-c36]. */
  services: SERVICES_NAME,
} as const;
