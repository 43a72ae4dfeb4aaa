// SHA-256 for module verification (node:crypto). The only hashing seam of the carousel: the
// codecs never hash; the module-set checks and the receiver call these.

import { createHash } from 'node:crypto';

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
