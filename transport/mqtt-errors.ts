// Errors of the MQTT adapter, as WeftError subclasses with wire codes from runtime/codes.ts.
// A send never hangs: it resolves, or rejects with one of these or a runtime error class.

import { Codes, WeftError, type WeftErrorOptions } from '../runtime/index.ts';

/** The link to the broker is down (dropped, reconnecting, or never came up). Retryable. */
export class LinkDownError extends WeftError {
  constructor(message: string, options?: WeftErrorOptions) {
    super(Codes.UNAVAILABLE, message, options);
  }
}

/** The broker refused: bad credentials, an identity it does not know, or a topic the ACL denies. */
export class BrokerRefusedError extends WeftError {
  /** The MQTT return/reason code the broker sent, when it sent one. */
  readonly reasonCode: number | undefined;
  constructor(message: string, reasonCode?: number, options?: WeftErrorOptions) {
    super(Codes.FORBIDDEN, message, options);
    this.reasonCode = reasonCode;
  }
}
