// The MQTT topic scheme [c31, c33]: topics derived from virtual addresses, per-box namespaces
// for the broker ACL. Pure string functions shared by the adapter, the brokers and the docs;
// must not import mqtt (transport/mqtt.ts is the only file that does).

import { AddressError, VADDR_SCHEME, type Address, parseVaddr } from '../runtime/index.ts';

/** App id reserved for box endpoints: `weft://box/<boxId>/<name>` lives on box <boxId>. */
export const BOX_APP = 'box';
/** App id reserved for head-end endpoints: `weft://headend/<nodeId>/<name>`. */
export const HEADEND_APP = 'headend';
export const DEFAULT_PREFIX = 'weft';

const SCHEME = VADDR_SCHEME;
const BOX_VADDR = `${SCHEME}${BOX_APP}/`;
/** Box and head-end ids: one MQTT topic level, usable as username and client id (no `+ # / $`). */
const ENDPOINT_ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const PREFIX = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(\/[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}){0,3}$/;

export function isEndpointId(id: unknown): id is string {
  return typeof id === 'string' && ENDPOINT_ID.test(id);
}

/** The address of a box endpoint (its loader, its channel manager): no registry needed to reach it. */
export function boxAddress(boxId: string, name = 'inbox'): Address {
  if (!isEndpointId(boxId)) throw new AddressError(`bad box id "${String(boxId)}"`, boxId);
  return { vaddr: `${BOX_VADDR}${boxId}/${name}` };
}

export function headendAddress(nodeId: string, name = 'ingress'): Address {
  if (!isEndpointId(nodeId)) throw new AddressError(`bad head-end id "${String(nodeId)}"`, nodeId);
  return { vaddr: `${SCHEME}${HEADEND_APP}/${nodeId}/${name}` };
}

/** The box a `weft://box/<boxId>/...` address names, or undefined for any other vaddr. */
export function boxOf(vaddr: string): string | undefined {
  if (!vaddr.startsWith(BOX_VADDR)) return undefined;
  const end = vaddr.indexOf('/', BOX_VADDR.length);
  return end < 0 ? undefined : vaddr.slice(BOX_VADDR.length, end);
}

/** A parsed topic: direction, box, and the vaddr path (the vaddr without `weft://`). */
export interface ParsedTopic {
  dir: 'up' | 'box';
  boxId: string;
  path: string;
}

/**
 * The scheme, under one prefix (default `weft`):
 *   `<prefix>/up/<boxId>/<app>/<session>/<module>[/<instance>]`  box -> head-end ingress
 *   `<prefix>/box/<boxId>/<app>/<session>/<module>[/<instance>]` head-end -> box inbox
 * The levels after the box id are the destination's virtual address path, so the broker can
 * route by address and an ACL can confine each box to `up/<own id>/#` and `box/<own id>/#`.
 */
export class TopicScheme {
  readonly prefix: string;
  readonly upRoot: string;
  readonly boxRoot: string;

  constructor(prefix: string = DEFAULT_PREFIX) {
    if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
      throw new AddressError(`bad topic prefix "${String(prefix)}" (1-4 levels of [A-Za-z0-9_.-], no wildcards, no leading $)`, prefix);
    }
    this.prefix = prefix;
    this.upRoot = `${prefix}/up/`;
    this.boxRoot = `${prefix}/box/`;
  }

  /** Topic a box publishes on to reach `vaddr` at the head-end. Throws AddressError. */
  up(boxId: string, vaddr: string): string {
    return `${this.upRoot}${checkId(boxId)}/${vaddrPath(vaddr)}`;
  }

  /** Topic the head-end publishes on to reach `vaddr` on box `boxId`. Throws AddressError. */
  down(boxId: string, vaddr: string): string {
    return `${this.boxRoot}${checkId(boxId)}/${vaddrPath(vaddr)}`;
  }

  /** Filter for every box's ingress (head-end), or one box's (`boxId`). */
  upFilter(boxId = '+'): string {
    return `${this.upRoot}${boxId === '+' ? '+' : checkId(boxId)}/#`;
  }

  /** Filter for one box's inbox: the only thing that box may subscribe to. */
  downFilter(boxId: string): string {
    return `${this.boxRoot}${checkId(boxId)}/#`;
  }

  /** MQTT 5 shared subscription of the ingress, so head-end nodes split the boxes' traffic. */
  sharedUpFilter(group: string): string {
    return `$share/${checkId(group)}/${this.upFilter()}`;
  }

  /** Parse a topic of this scheme; undefined when it is not one (wrong prefix, direction or shape). */
  parse(topic: string): ParsedTopic | undefined {
    let dir: 'up' | 'box';
    let start: number;
    if (topic.startsWith(this.upRoot)) {
      dir = 'up';
      start = this.upRoot.length;
    } else if (topic.startsWith(this.boxRoot)) {
      dir = 'box';
      start = this.boxRoot.length;
    } else {
      return undefined;
    }
    const slash = topic.indexOf('/', start);
    if (slash < 0) return undefined;
    const boxId = topic.slice(start, slash);
    if (!ENDPOINT_ID.test(boxId)) return undefined;
    return { dir, boxId, path: topic.slice(slash + 1) };
  }

  /** The virtual address a topic path names, or undefined when the path is not a valid one. */
  static vaddrOf(path: string): string | undefined {
    const v = SCHEME + path;
    try {
      parseVaddr(v);
      return v;
    } catch {
      return undefined;
    }
  }
}

function checkId(id: string): string {
  if (!ENDPOINT_ID.test(id)) throw new AddressError(`bad endpoint id "${String(id)}" for a topic level`, id);
  return id;
}

/** `weft://a/s/m` -> `a/s/m`, after full validation (no `+`, `#` or empty levels can result). */
function vaddrPath(vaddr: string): string {
  parseVaddr(vaddr);
  return vaddr.slice(SCHEME.length);
}
