// Test certificates made with Debian's openssl (Node cannot create X.509): a box CA, a separate
// node CA, a server certificate for 127.0.0.1, and client certificates naming a box or a node by
// CN or SAN URI. EC P-256, valid two days, in a temporary folder. No ava imports.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertFiles {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  dir: string;
  /** CA of box certificates (and, unless given nodeCa, of everything). */
  ca: CertFiles;
  /** A second CA for node certificates only. */
  nodeCa: CertFiles;
  /** The broker's certificate: SAN IP 127.0.0.1 and DNS localhost, signed by `ca`. */
  server: CertFiles;
  /** A client certificate with this subject CN (and SAN URI, if given), signed by `by` (default `ca`). */
  client(cn: string, o?: { uri?: string; by?: 'ca' | 'nodeCa' | 'rogue' }): CertFiles;
  remove(): void;
}

export function makePki(openssl: string): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'weft-pki-'));
  let serial = 1;
  const run = (args: string[]): void => void execFileSync(openssl, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const files = (name: string): CertFiles => {
    const certFile = join(dir, `${name}.crt`);
    const keyFile = join(dir, `${name}.key`);
    return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  };
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const makeCa = (name: string): CertFiles => {
    run(['req', '-x509', ...newKey, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), '-subj', `/CN=weft test ${name}`, '-days', '2']);
    return files(name);
  };
  const ca = makeCa('ca');
  const nodeCa = makeCa('node-ca');
  const rogue = makeCa('rogue-ca');
  const leaf = (name: string, cn: string, ext: string, by: CertFiles): CertFiles => {
    const csr = join(dir, `${name}.csr`);
    const extFile = join(dir, `${name}.ext`);
    writeFileSync(extFile, `${ext}\n`);
    run(['req', ...newKey, '-keyout', join(dir, `${name}.key`), '-out', csr, '-subj', `/CN=${cn}`]);
    run(['x509', '-req', '-in', csr, '-CA', by.certFile, '-CAkey', by.keyFile, '-set_serial', String(serial++), '-out', join(dir, `${name}.crt`), '-days', '2', '-extfile', extFile]);
    return files(name);
  };
  const server = leaf('server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth', ca);
  let n = 0;
  return {
    dir,
    ca,
    nodeCa,
    server,
    client(cn, o = {}) {
      const by = o.by === 'nodeCa' ? nodeCa : o.by === 'rogue' ? rogue : ca;
      const san = o.uri === undefined ? '' : `\nsubjectAltName=URI:${o.uri}`;
      return leaf(`client-${n++}`, cn, `extendedKeyUsage=clientAuth${san}`, by);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
