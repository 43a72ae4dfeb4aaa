// Address objects [c8-c12] and virtual addresses [c31, c33]: parse, validate, format.
// Pure and platform-neutral; resolution of a virtual address lives behind the Resolver port.

import { AddressError } from './errors.ts';

/** IPv4 (or IPv6) literal plus UDP port of an endpoint on another server [c11]. */
export interface UdpAddress {
  host: string;
  port: number;
}

/**
 * Where a message goes [c8]. `queue`: a local message-queue id on the same server [c10];
 * `udp`: an IP/UDP pair on another server [c11]; `vaddr`: a virtual URI the registry maps to
 * one of those [c12]. At least one is present; several may be (a vaddr plus its last location).
 */
export interface Address {
  vaddr?: string;
  queue?: string;
  udp?: UdpAddress;
}

/** The parts of `weft://<app>/<session or *>/<module>[/<instance>]` [c33]. */
export interface VirtualAddress {
  app: string;
  /** A session id, or `*` for a portion shared by all sessions of the app. */
  session: string;
  module: string;
  instance?: string;
}

/** The scheme of every virtual address: defined here once, imported everywhere else [c33]. */
export const VADDR_SCHEME = 'weft://';
const SCHEME = VADDR_SCHEME;
const APP = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const QUEUE = /^[A-Za-z0-9_.:/-]{1,128}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;

/** Parse a virtual address; throws AddressError naming what is wrong. */
export function parseVaddr(uri: string): VirtualAddress {
  if (typeof uri !== 'string') throw new AddressError('virtual address must be a string', uri);
  if (uri.length > 256) throw new AddressError('virtual address longer than 256 characters', uri.slice(0, 64));
  if (!uri.startsWith(SCHEME)) throw new AddressError(`virtual address must start with ${SCHEME}`, uri);
  const parts = uri.slice(SCHEME.length).split('/');
  if (parts.length < 3 || parts.length > 4) {
    throw new AddressError('virtual address must be weft://<app>/<session|*>/<module>[/<instance>]', uri);
  }
  const [app, session, module, instance] = parts as [string, string, string, string | undefined];
  if (!APP.test(app)) throw new AddressError(`bad app id "${app}" (lower-case letters, digits, '-')`, uri);
  if (session !== '*' && !SEGMENT.test(session)) throw new AddressError(`bad session "${session}"`, uri);
  if (!SEGMENT.test(module)) throw new AddressError(`bad module name "${module}"`, uri);
  if (instance !== undefined && !SEGMENT.test(instance)) throw new AddressError(`bad instance "${instance}"`, uri);
  return instance === undefined ? { app, session, module } : { app, session, module, instance };
}

export function formatVaddr(v: VirtualAddress): string {
  const s = `${SCHEME}${v.app}/${v.session}/${v.module}${v.instance === undefined ? '' : `/${v.instance}`}`;
  if (!isVaddr(s)) parseVaddr(s); // throws the error that names the bad part
  return s;
}

/** The whole grammar of parseVaddr in one expression: a check that builds nothing and throws nothing. */
const VADDR = new RegExp(`^weft://${APP.source.slice(1, -1)}/(?:\\*|${SEGMENT.source.slice(1, -1)})/${SEGMENT.source.slice(1, -1)}(?:/${SEGMENT.source.slice(1, -1)})?$`);

/** Does parseVaddr accept `uri`? [wave 15] a storm of 18,000 boxes spent 0.9 s of the node's loop in parseVaddr's splits and throws. */
export function isVaddr(uri: unknown): uri is string {
  return typeof uri === 'string' && uri.length <= 256 && VADDR.test(uri);
}

export function isIpLiteral(host: string): boolean {
  return IPV4.test(host) || (host.includes(':') && IPV6.test(host));
}

/** Validate an untrusted address object; returns a fresh object with only the known fields. */
export function checkAddress(input: unknown): Address {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new AddressError('address must be an object', input);
  }
  const a = input as Record<string, unknown>;
  for (const k of Object.keys(a)) {
    if (k !== 'vaddr' && k !== 'queue' && k !== 'udp') throw new AddressError(`unknown address field "${k}"`, input);
  }
  const out: Address = {};
  if (a.vaddr !== undefined) {
    parseVaddr(a.vaddr as string);
    out.vaddr = a.vaddr as string;
  }
  if (a.queue !== undefined) {
    if (typeof a.queue !== 'string' || !QUEUE.test(a.queue)) throw new AddressError('bad queue id', input);
    out.queue = a.queue;
  }
  if (a.udp !== undefined) out.udp = checkUdp(a.udp, input);
  if (out.vaddr === undefined && out.queue === undefined && out.udp === undefined) {
    throw new AddressError('address needs at least one of vaddr, queue, udp', input);
  }
  return out;
}

function checkUdp(u: unknown, whole: unknown): UdpAddress {
  if (u === null || typeof u !== 'object') throw new AddressError('udp must be {host, port}', whole);
  const { host, port, ...rest } = u as Record<string, unknown>;
  if (Object.keys(rest).length > 0) throw new AddressError(`unknown udp field "${Object.keys(rest)[0]}"`, whole);
  if (typeof host !== 'string' || !isIpLiteral(host)) throw new AddressError('udp.host must be an IP literal', whole);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AddressError('udp.port must be an integer in 1..65535', whole);
  }
  return { host, port };
}

/** Short human form for logs: the vaddr, else `queue:<id>`, else `udp://host:port`. */
export function formatAddress(a: Address): string {
  if (a.vaddr !== undefined) return a.vaddr;
  if (a.queue !== undefined) return `queue:${a.queue}`;
  if (a.udp !== undefined) return a.udp.host.includes(':') ? `udp://[${a.udp.host}]:${a.udp.port}` : `udp://${a.udp.host}:${a.udp.port}`;
  return '(empty address)';
}

export function sameUdp(a: UdpAddress | undefined, b: UdpAddress | undefined): boolean {
  return a !== undefined && b !== undefined && a.port === b.port && a.host === b.host;
}
