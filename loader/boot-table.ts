// The box's boot sequence as an explicit state machine [c1, c2, c41, c42, c45]: states, events,
// and one transition table (pure data). box.ts runs the actions; loader/README.md shows the table
// and a test checks the two agree. No I/O here.

export const BOOT_STATES = [
  'off',
  'tuning',
  'acquiring-boot',
  'starting',
  'connecting',
  'acquiring-fallback-1',
  'connecting-again',
  'acquiring-fallback-2',
  'degraded',
  'session-setup',
  'up',
  'interrupted',
  'stopped',
] as const;
export type BootState = (typeof BOOT_STATES)[number];

export const BOOT_EVENTS = [
  'boot', // power on
  'warm-hit', // device storage holds a verified app: start without waiting for the carousel
  'dsi', // the carousel's DSI arrived: the app is on air
  'tier-verified', // the tier being acquired arrived and checks out against the signed manifest
  'tier-refused', // a signature or hash did not check out: nothing of it runs
  'started', // the app's modules for the tiers so far are running
  'dial-failed', // a connect attempt on the return channel failed (dead path, refused, reset)
  'link-up', // the two-way channel is established (first connect or reconnect)
  'link-down', // the established two-way channel dropped (a reset or close: maybe a flap)
  'link-dead', // the established two-way channel went silent and did not answer its probe: a dead path
  'session-ready', // session.open answered, modules fetched, client-started acknowledged
  'session-failed', // session setup failed (refused, timed out, a download did not verify)
  'session-lost', // the head-end answered NO_SESSION about the session the box has: it lost it (a restart)
  'retry-session', // degraded with the link up: time to ask for a server portion again
  'grace-expired', // the link stayed down too long: the server portion is given up
  'update', // a new version of the app was acquired and verified
  'stop', // power off
] as const;
export type BootEvent = (typeof BOOT_EVENTS)[number];

/** Conditions a row may require, read from the box at the moment the event is handled. */
export interface BootFacts {
  /** The profile has a return channel and the loader a dialer. */
  twoWay: boolean;
  /** The return channel is established right now. */
  linkUp: boolean;
  /** How many fallback tiers were acquired and started: 0, 1 or 2. */
  fallbacks: number;
}

export const GUARDS = ['link-up', 'two-way', 'no-two-way', 'fallbacks=0', 'fallbacks=1', 'fallbacks=2'] as const;
export type Guard = (typeof GUARDS)[number];

export const ACTIONS = [
  'tune', // tune the carousel; look for a verified app in device storage (warm boot)
  'acquire-boot', // acquire and verify the boot tier
  're-acquire', // drop what was refused and acquire it again from the carousel
  'start-app', // load the verified client modules into the sandbox and start them
  'restart-app', // stop the running version (and its session), start the new one
  'dial', // a bounded round of connect attempts with jittered backoff
  'acquire-fallback', // acquire the next fallback tier; connect attempts go on meanwhile
  'start-fallback-dial', // start the fallback tier's modules, then a new round of connect attempts
  'start-fallback-acquire', // start the fallback tier's modules, then acquire the next tier
  'start-fallback-degraded', // start the last tier's modules; retry in the background
  'open-session', // session.open, module.get, client-started [c41-c45]
  'report', // running: resource reports every reportEveryMs [c5]
  'hold', // link lost: remote calls fail fast; a grace timer runs
  'resume', // link back: report at once
  'drop-session', // give the server portion up; mutable modules run locally again
  'reopen-session', // the head-end lost the session: drop it, then open a new one after a seeded jitter
  'background', // retry the return channel (or the session) in the background
  'shutdown',
] as const;
export type Action = (typeof ACTIONS)[number];

export interface Transition {
  from: BootState | '*';
  event: BootEvent;
  guard?: Guard;
  to: BootState;
  action: Action;
}

const t = (from: BootState | '*', event: BootEvent, to: BootState, action: Action, guard?: Guard): Transition =>
  guard === undefined ? { from, event, to, action } : { from, event, guard, to, action };

/** Rows are tried in order; the first whose state, event and guard match is taken. */
export const BOOT_TABLE: readonly Transition[] = [
  t('off', 'boot', 'tuning', 'tune'),
  t('tuning', 'warm-hit', 'starting', 'start-app'),
  t('tuning', 'dsi', 'acquiring-boot', 'acquire-boot'),
  t('acquiring-boot', 'tier-refused', 'acquiring-boot', 're-acquire'),
  t('acquiring-boot', 'tier-verified', 'starting', 'start-app'),
  t('starting', 'started', 'session-setup', 'open-session', 'link-up'),
  t('starting', 'started', 'connecting', 'dial', 'two-way'),
  t('starting', 'started', 'acquiring-fallback-1', 'acquire-fallback', 'no-two-way'),
  t('connecting', 'link-up', 'session-setup', 'open-session'),
  t('connecting', 'dial-failed', 'acquiring-fallback-1', 'acquire-fallback'),
  t('acquiring-fallback-1', 'link-up', 'session-setup', 'open-session'),
  t('acquiring-fallback-1', 'tier-refused', 'acquiring-fallback-1', 're-acquire'),
  t('acquiring-fallback-1', 'tier-verified', 'connecting-again', 'start-fallback-dial', 'two-way'),
  t('acquiring-fallback-1', 'tier-verified', 'acquiring-fallback-2', 'start-fallback-acquire', 'no-two-way'),
  t('connecting-again', 'link-up', 'session-setup', 'open-session'),
  t('connecting-again', 'dial-failed', 'acquiring-fallback-2', 'acquire-fallback'),
  t('acquiring-fallback-2', 'link-up', 'session-setup', 'open-session'),
  t('acquiring-fallback-2', 'tier-refused', 'acquiring-fallback-2', 're-acquire'),
  t('acquiring-fallback-2', 'tier-verified', 'degraded', 'start-fallback-degraded'),
  t('degraded', 'link-up', 'session-setup', 'open-session'),
  t('degraded', 'retry-session', 'session-setup', 'open-session', 'link-up'),
  t('session-setup', 'session-ready', 'up', 'report'),
  t('session-setup', 'session-failed', 'acquiring-fallback-1', 'acquire-fallback', 'fallbacks=0'),
  t('session-setup', 'session-failed', 'acquiring-fallback-2', 'acquire-fallback', 'fallbacks=1'),
  t('session-setup', 'session-failed', 'degraded', 'background', 'fallbacks=2'),
  t('up', 'link-down', 'interrupted', 'hold'),
  t('up', 'session-lost', 'session-setup', 'reopen-session'),
  // [13.5] a dead path goes to the fallback tiers at once: the grace period is for flaps.
  t('up', 'link-dead', 'acquiring-fallback-1', 'drop-session', 'fallbacks=0'),
  t('up', 'link-dead', 'acquiring-fallback-2', 'drop-session', 'fallbacks=1'),
  t('up', 'link-dead', 'degraded', 'drop-session', 'fallbacks=2'),
  t('interrupted', 'link-up', 'up', 'resume'),
  t('interrupted', 'grace-expired', 'acquiring-fallback-1', 'drop-session', 'fallbacks=0'),
  t('interrupted', 'grace-expired', 'acquiring-fallback-2', 'drop-session', 'fallbacks=1'),
  t('interrupted', 'grace-expired', 'degraded', 'drop-session', 'fallbacks=2'),
  t('*', 'update', 'starting', 'restart-app'),
  t('*', 'stop', 'stopped', 'shutdown'),
];

export function guardHolds(g: Guard | undefined, f: BootFacts): boolean {
  switch (g) {
    case undefined:
      return true;
    case 'link-up':
      return f.linkUp;
    case 'two-way':
      return f.twoWay;
    case 'no-two-way':
      return !f.twoWay;
    case 'fallbacks=0':
      return f.fallbacks === 0;
    case 'fallbacks=1':
      return f.fallbacks === 1;
    case 'fallbacks=2':
      return f.fallbacks >= 2;
  }
}

/** The transition taken for `event` in `state`, or undefined (the event is ignored there). */
export function step(state: BootState, event: BootEvent, facts: BootFacts, table: readonly Transition[] = BOOT_TABLE): Transition | undefined {
  if (state === 'stopped') return undefined;
  // `update` and `stop` apply in every state but these: nothing runs yet / already stopped.
  for (const row of table) {
    if (row.event !== event) continue;
    if (row.from === '*' ? event === 'update' && (state === 'off' || state === 'tuning' || state === 'acquiring-boot') : row.from !== state) continue;
    if (guardHolds(row.guard, facts)) return row;
  }
  return undefined;
}

/** The table as the markdown rows loader/README.md and docs/BOX.md show. */
export function formatTable(table: readonly Transition[] = BOOT_TABLE): string {
  const lines = ['| state | event | guard | next state | action |', '|---|---|---|---|---|'];
  for (const r of table) lines.push(`| ${r.from} | ${r.event} | ${r.guard ?? ''} | ${r.to} | ${r.action} |`);
  return lines.join('\n');
}
