// The named error classes of Weft. Each has `name` equal to its class, a wire `code`, structured
// fields and an optional `cause`. Expected outcomes are values (see result.ts), not throws.

import { Codes } from './codes.ts';

export interface WeftErrorOptions {
  cause?: unknown;
}

export class WeftError extends Error {
  /** Wire code (codes.ts); a RemoteError may carry a code newer than this build. */
  readonly code: number;
  constructor(code: number, message: string, options?: WeftErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bytes that are not a valid envelope (or datagram, or record). `offset` where it failed, if known. */
export class DecodeError extends WeftError {
  readonly reason: string;
  constructor(reason: string, options?: WeftErrorOptions) {
    super(Codes.DECODE, `cannot decode: ${reason}`, options);
    this.reason = reason;
  }
}

export class EncodeError extends WeftError {
  readonly reason: string;
  constructor(reason: string, options?: WeftErrorOptions) {
    super(reason.startsWith('too large') ? Codes.TOO_LARGE : Codes.BAD_REQUEST, `cannot encode: ${reason}`, options);
    this.reason = reason;
  }
}

/** An address object or virtual address that is malformed, or does not resolve. */
export class AddressError extends WeftError {
  readonly input: string;
  constructor(message: string, input: unknown, options?: WeftErrorOptions) {
    super(Codes.ADDRESS, message, options);
    this.input = typeof input === 'string' ? input : safeJson(input);
  }
}

export class TimeoutError extends WeftError {
  readonly afterMs: number;
  constructor(message: string, afterMs: number, options?: WeftErrorOptions) {
    super(Codes.TIMEOUT, message, options);
    this.afterMs = afterMs;
  }
}

export class ChannelClosedError extends WeftError {
  constructor(message = 'channel closed', options?: WeftErrorOptions) {
    super(Codes.CLOSED, message, options);
  }
}

/** An error reply from the far side: carries the wire code it sent. */
export class RemoteError extends WeftError {
  readonly remoteCode: number;
  readonly data: unknown;
  constructor(code: number, message: string, data?: unknown) {
    super(code, message);
    this.remoteCode = code;
    this.data = data;
  }
}

/** Invalid arguments or options given to a public entry point. */
export class ArgumentError extends WeftError {
  readonly option: string | undefined;
  constructor(message: string, option?: string) {
    super(Codes.BAD_REQUEST, message);
    this.option = option;
  }
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
