// TLS for the embedded broker: its options (server key and certificate, the CAs of client
// certificates, whether one is required) and the identity a verified client certificate proves
// (mTLS: from the certificate, never from the MQTT username). No aedes import.

import { X509Certificate } from 'node:crypto';
import type { PeerCertificate, TlsOptions } from 'node:tls';
import { ArgumentError, rejectUnknown } from '../../runtime/index.ts';
import { isEndpointId } from '../../transport/mqtt-topics.ts';
import type { Identity } from './broker-acl.ts';
import { claimedIdentity } from './broker-auth.ts';

type Pem = string | Buffer;

export interface BrokerTlsOptions {
  /** PEM certificate (chain) the broker presents. */
  cert: Pem;
  /** PEM private key of `cert`. */
  key: Pem;
  /** PEM CA certificate(s) that sign client certificates. Required unless `clientCerts` is `off`. */
  ca?: Pem | Pem[];
  /**
   * `off` (default): passwords only, TLS for privacy. `optional`: a client certificate proves the
   * identity; a client without one logs in with its password. `required`: certificates only.
   */
  clientCerts?: 'off' | 'optional' | 'required';
  /**
   * PEM CA certificate(s) whose direct signature alone may prove a node identity. Default: none
   * listed, so any `ca` may (mosquitto cannot tell its CAs apart either): give it whenever box
   * certificates come from a CA the node CA is not.
   */
  nodeCa?: Pem | Pem[];
}

export interface ResolvedBrokerTls {
  server: TlsOptions;
  clientCerts: 'off' | 'optional' | 'required';
  nodeCas: X509Certificate[];
}

const W = 'startAedesBroker.tls';

export function resolveBrokerTls(o: BrokerTlsOptions | undefined): ResolvedBrokerTls | undefined {
  if (o === undefined) return undefined;
  if (o === null || typeof o !== 'object') throw new ArgumentError(`${W} must be an object`, 'tls');
  rejectUnknown(W, o, ['cert', 'key', 'ca', 'clientCerts', 'nodeCa']);
  for (const k of ['cert', 'key'] as const) if (!isPem(o[k])) throw new ArgumentError(`${W}.${k} must be PEM text or a Buffer`, k);
  const clientCerts = o.clientCerts ?? 'off';
  if (!['off', 'optional', 'required'].includes(clientCerts)) throw new ArgumentError(`${W}.clientCerts must be off, optional or required`, 'clientCerts');
  const ca = list(o.ca, 'ca');
  if (clientCerts !== 'off' && ca.length === 0) throw new ArgumentError(`${W}.ca is required when clientCerts is ${clientCerts}`, 'ca');
  const nodeCas = list(o.nodeCa, 'nodeCa').map((p) => parseCert(p, 'nodeCa'));
  for (const p of ca) parseCert(p, 'ca');
  const server: TlsOptions = {
    cert: o.cert,
    key: o.key,
    minVersion: 'TLSv1.2',
    ...(ca.length > 0 ? { ca } : {}),
    ...(clientCerts === 'off' ? {} : { requestCert: true, rejectUnauthorized: clientCerts === 'required' }),
  };
  return { server, clientCerts, nodeCas };
}

/**
 * The identity a verified client certificate proves: a SAN URI `weft://box/<id>` or
 * `weft://headend/<id>` if it has one (exactly one), else its subject CN read as an MQTT username
 * (`<box id>`, or `<node id>@headend`; what mosquitto's `use_identity_as_username` takes). A node
 * identity also needs a direct signature of one of `nodeCas`, when any are given.
 */
export function certificateIdentity(peer: PeerCertificate, nodeCas: readonly X509Certificate[]): Identity | undefined {
  const uris = (peer.subjectaltname ?? '')
    .split(', ')
    .filter((s) => s.startsWith('URI:weft://'))
    .map((s) => /^URI:weft:\/\/(box|headend)\/([^/]+)$/.exec(s));
  let who: Identity | undefined;
  if (uris.length > 1) return undefined;
  const m = uris[0];
  if (m !== undefined) {
    if (m === null || !isEndpointId(m[2])) return undefined;
    who = { role: m[1] === 'box' ? 'box' : 'headend', id: m[2] };
  } else {
    const cn = peer.subject?.CN;
    if (typeof cn !== 'string') return undefined;
    who = claimedIdentity(cn);
  }
  if (who?.role === 'headend' && nodeCas.length > 0) {
    const cert = new X509Certificate(peer.raw);
    if (!nodeCas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) return undefined;
  }
  return who;
}

function isPem(v: unknown): v is Pem {
  return (typeof v === 'string' && v.includes('-----BEGIN')) || Buffer.isBuffer(v);
}

function list(v: Pem | Pem[] | undefined, name: string): Pem[] {
  const all = v === undefined ? [] : Array.isArray(v) ? v : [v];
  for (const p of all) if (!isPem(p)) throw new ArgumentError(`${W}.${name} must be PEM text or a Buffer`, name);
  return all;
}

function parseCert(p: Pem, name: string): X509Certificate {
  try {
    return new X509Certificate(p);
  } catch (e) {
    throw new ArgumentError(`${W}.${name}: not a PEM certificate (${(e as Error).message})`, name);
  }
}
