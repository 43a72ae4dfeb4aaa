// Typed errors of app manifests and signatures. Wire codes: BAD_REQUEST for a malformed
// manifest, FORBIDDEN for anything that fails verification (codes.ts says: signature).

import { Codes } from '../codes.ts';
import { WeftError, type WeftErrorOptions } from '../errors.ts';

/** A manifest that does not match the schema. `field` is the path, e.g. `modules[2].tier`. */
export class ManifestError extends WeftError {
  readonly field: string;
  constructor(field: string, problem: string, options?: WeftErrorOptions) {
    super(Codes.BAD_REQUEST, `manifest ${field === '' ? '' : `${field}: `}${problem}`, options);
    this.field = field;
  }
}

/** Why an app was refused before any of its code ran. */
export type SignatureProblem =
  | 'unsigned' // no signature file, or an empty one
  | 'malformed-signature' // the signature file is not a Weft signature
  | 'unknown-key' // signed, but by a key the device does not trust
  | 'bad-signature' // a trusted key id, but the signature does not match the manifest bytes
  | 'missing-module' // the manifest lists a module whose bytes were not supplied
  | 'tampered-module'; // the module's bytes do not hash to the manifest's sha256 (or size)

export class SignatureError extends WeftError {
  readonly problem: SignatureProblem;
  /** The module concerned (missing-module, tampered-module). */
  readonly module: string | undefined;
  /** The key id named by the signature (unknown-key, bad-signature). */
  readonly keyId: string | undefined;
  constructor(problem: SignatureProblem, message: string, detail: { module?: string; keyId?: string } = {}) {
    super(Codes.FORBIDDEN, `${problem}: ${message}`);
    this.problem = problem;
    this.module = detail.module;
    this.keyId = detail.keyId;
  }
}
