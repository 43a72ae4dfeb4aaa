// Wire error codes: one append-only table; the type and the code-to-name map derive from it.
// Never renumber or reuse a code: boxes in the field decode them. Never send stacks.

export const Codes = {
  OK: 0,
  BAD_REQUEST: 1, // the request body or options are invalid
  NOT_FOUND: 2, // no portion, handler or record by that name
  TIMEOUT: 3, // the deadline passed before a reply
  UNAVAILABLE: 4, // the destination exists but cannot serve now (closed, moving, saturated)
  NO_CAPACITY: 5, // the balancer found no node able to take the work
  DECODE: 6, // the bytes were not a valid envelope
  ADDRESS: 7, // the address could not be parsed or resolved
  FORBIDDEN: 8, // the sender may not do this (ACL, signature, pinning)
  TOO_LARGE: 9, // over a size limit
  RATE_LIMITED: 10, // the sender is over its rate
  INTERNAL: 11, // a bug on the replying side; details are logged there, not sent
  SANDBOX: 12, // guest code failed or was stopped
  CAROUSEL: 13, // carousel data was invalid
  CLOSED: 14, // the channel closed with the request pending
  MOVED: 15, // the portion moved; the reply carries its new address
  // Assigned together for the second wave (trust, faults, rollout, app model, operate), so
  // parallel work never picks the same number. docs/PROTOCOL.md lists who sends each.
  QUOTA: 16, // the sender is over a quota (sessions, downloads or bytes per box)
  NO_SESSION: 17, // the node does not know this session (restart, re-placement): open it again
  VERSION_MISMATCH: 18, // box and head-end run different versions of the app: re-open the session
  DRAINING: 19, // the node is leaving: retry, the balancer places the work elsewhere
  UNAUTHENTICATED: 20, // the sender's identity could not be verified (never answered to strangers)
  REFUSED: 21, // a session was refused; data.reason names the cause (untrusted key, tampered, ...)
} as const;

export type CodeName = keyof typeof Codes;
export type Code = (typeof Codes)[CodeName];

const names = new Map<number, CodeName>(
  (Object.entries(Codes) as [CodeName, Code][]).map(([name, code]) => [code, name]),
);

/** Name of a wire code, or `UNKNOWN(<n>)` for a code newer than this build. */
export function codeName(code: number): string {
  return names.get(code) ?? `UNKNOWN(${code})`;
}

export function isCode(code: unknown): code is Code {
  return typeof code === 'number' && names.has(code);
}
