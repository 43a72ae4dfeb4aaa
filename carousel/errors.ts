// CarouselError: the one error class of the carousel. Decoding untrusted bytes (TS packets,
// sections, descriptors, FEC symbols) fails with this and nothing else; `where` says which layer.

import { Codes, WeftError, type WeftErrorOptions } from '../runtime/index.ts';

/** The layer that refused the input. */
export type CarouselErrorWhere = 'ts' | 'section' | 'message' | 'descriptor' | 'module' | 'fec' | 'input';

export class CarouselError extends WeftError {
  readonly where: CarouselErrorWhere;
  readonly reason: string;
  /** Byte offset into the unit being decoded, when known. */
  readonly offset: number | undefined;
  constructor(where: CarouselErrorWhere, reason: string, options?: WeftErrorOptions & { offset?: number }) {
    super(Codes.CAROUSEL, `carousel ${where}: ${reason}`, options);
    this.where = where;
    this.reason = reason;
    this.offset = options?.offset;
  }
}
