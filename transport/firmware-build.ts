// What the firmware build leaves out. build.mjs defines `globalThis.WEFT_FIRMWARE` as true in the
// box's bundle: code that tests that exact expression has its head-end-only branch dropped by
// esbuild (it must be written inline: a helper function's result is not folded across modules).
// Everywhere else (tsx, the head-end) it is undefined. The firmware's 250 KB budget needs this.

declare global {
  /** True in the firmware bundle only (build.mjs `define`); undefined elsewhere. */
  var WEFT_FIRMWARE: boolean | undefined;
}

/** The firmware carries no mqtt.js: a transport there must be given its client. */
export function noMqttJs(): never {
  throw new Error('MqttTransport: no mqtt.js in the firmware: pass a client');
}

/** A stand-in for a head-end-only table in the firmware (always a box): any use throws. */
export function headendOnly<T extends object>(what: string): T {
  return new Proxy({} as T, {
    get: () => {
      throw new Error(`${what} is head-end only: the firmware is a box`);
    },
  });
}
