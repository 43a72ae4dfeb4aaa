// Mutable-module state on the move [c4, c18]: the value a module's snapshot() returned, carried
// between box and head-end as CBOR (cbor-x) with a hard size limit. Decoding untrusted bytes
// yields a DecodeError and nothing else. A `__proto__` key is refused both ways (docs/DECISIONS.md D15).

import { Decoder, Encoder } from 'cbor-x';
import { DecodeError, EncodeError } from '../errors.ts';
import { mapsDecoder, mayHoldProtoKey, protoKeyPath } from '../cbor-keys.ts';

export const DEFAULT_MAX_STATE_BYTES = 256 * 1024;

/** Encoder/decoder pair with its own buffers; one per sandbox host, no shared module state. */
export class StateCodec {
  readonly maxBytes: number;
  #enc = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false, useFloat32: 0, variableMapSize: true });
  #dec = new Decoder({ useRecords: false, mapsAsObjects: true });
  #maps = mapsDecoder();

  constructor(maxBytes = DEFAULT_MAX_STATE_BYTES) {
    if (!Number.isInteger(maxBytes) || maxBytes <= 0) throw new EncodeError('state maxBytes must be a positive integer');
    this.maxBytes = maxBytes;
  }

  encode(state: unknown): Uint8Array {
    let bytes: Uint8Array;
    try {
      bytes = this.#enc.encode(state);
    } catch (e) {
      throw new EncodeError(`state is not encodable: ${(e as Error).message}`, { cause: e });
    }
    if (bytes.length > this.maxBytes) throw new EncodeError(`too large: state is ${bytes.length} bytes, limit ${this.maxBytes}`);
    const proto = mayHoldProtoKey(bytes) ? protoKeyPath(bytes, 'state', this.#maps) : undefined;
    if (proto !== undefined) throw new EncodeError(`a "__proto__" key is refused (${proto})`);
    return Uint8Array.from(bytes);
  }

  decode(bytes: Uint8Array): unknown {
    if (!(bytes instanceof Uint8Array)) throw new DecodeError('state must be bytes');
    if (bytes.length > this.maxBytes) throw new DecodeError(`state is ${bytes.length} bytes, limit ${this.maxBytes}`);
    if (bytes.length === 0) throw new DecodeError('empty state');
    let value: unknown;
    let proto: string | undefined;
    try {
      value = this.#dec.decode(bytes);
      proto = mayHoldProtoKey(bytes) ? protoKeyPath(bytes, 'state', this.#maps) : undefined;
    } catch (e) {
      throw new DecodeError(`state: ${(e as Error).message}`, { cause: e });
    }
    if (proto !== undefined) throw new DecodeError(`a "__proto__" key is refused (${proto})`);
    return value;
  }
}
