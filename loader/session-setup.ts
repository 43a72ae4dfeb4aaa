// Session setup from the box's side [c26, c41-c45], per runtime/session.ts: session.open with the
// resource report (and the mutable modules running here, with their state), placement applied,
// module.get downloads verified against the signed manifest before they run, client-started.

import {
  type Channel,
  type Clock,
  Codes,
  type OpenReply,
  type ResourceReport,
  SESSIONS_VADDR,
  SessionOps,
  WeftError,
  checkModuleGetReply,
  checkOpenReply,
  modulesVaddr,
  parseVaddr,
} from '../runtime/index.ts';
import { verifyModule } from '../runtime/app/index.ts';
import type { AcquiredApp } from './acquire.ts';
import type { AppRunner } from './app-runner.ts';
import type { BoxEvent } from './box-events.ts';
import { SessionSetupError } from './errors.ts';
import type { BoxSwitch } from './switch.ts';
import { quotaWaitMs } from './session-quota.ts';

export interface SetupContext {
  boxId: string;
  app: AcquiredApp;
  runner: AppRunner;
  switch: BoxSwitch;
  loader: Channel;
  report: () => ResourceReport;
  timeoutMs: number;
  emit: (e: BoxEvent) => void;
  /** The session this open continues after a version switch (issue 15.6-7). */
  previous?: string;
  /** [issue 19.6] A QUOTA (setups) answer is waited out on this clock (its hint, jittered, capped) and the open sent again. */
  clock: Clock;
  random: () => number;
  /** [D95] The box left this version while its open was out: the answer is returned as it is, not applied. */
  left?: () => boolean;
  /** [wave 15] client-started got no answer: the head-end may have heard it, so the next open continues this session. */
  unconfirmed?: (session: string) => void;
}

/** QUOTA (setups) answers waited out before the open counts as failed: at most 8 x 30 s. */
const MAX_DEFERRALS = 8;

/**
 * Set a session up. A head-end past its setup capacity says when to come back: the box waits in
 * session-setup (its modules run, their requests wait for the session) and opens again.
 */
export async function setupSession(c: SetupContext): Promise<OpenReply> {
  for (let n = 0; ; n++) {
    try {
      return await setupOnce(c);
    } catch (e) {
      const ms = n < MAX_DEFERRALS ? quotaWaitMs(e, c.random) : undefined;
      if (ms === undefined) throw e;
      c.emit({ kind: 'session-retry', inMs: ms, refusals: 0 });
      await new Promise<void>((r) => c.clock.setTimeout(r, ms));
    }
  }
}

/** One open. On failure the modules that were frozen for the move run on, unmoved. */
async function setupOnce(c: SetupContext): Promise<OpenReply> {
  const manifest = c.app.manifest;
  const mutable = new Set(manifest.modules.filter((m) => m.kind === 'mutable').map((m) => m.name));
  // [c31] mutable modules running here (after a fallback) offer their state with the request;
  // they are paused and their messages held until the placement says where they go.
  const frozen = c.runner.running().filter((n) => mutable.has(n));
  const running: { module: string; state: Uint8Array }[] = [];
  try {
    for (const name of frozen) {
      const s = await c.runner.freeze(name);
      if (!s.ok) throw new SessionSetupError('open', s.error.code, `${name} gave no state: ${s.error.message}`);
      running.push({ module: name, state: s.value });
    }
    const body = { app: manifest.app, version: manifest.version, boxId: c.boxId, report: c.report(), ...(running.length > 0 ? { running } : {}), ...(c.previous === undefined ? {} : { previous: c.previous }) };
    const reply = await c.loader.request({ vaddr: SESSIONS_VADDR }, body, { op: SessionOps.open, timeoutMs: c.timeoutMs }).catch((e: unknown) => {
      throw failed('open', e);
    });
    const r = checkReply(reply, manifest.app);
    if (c.left?.() === true) return r;
    await apply(c, r, new Set(frozen));
    return r;
  } catch (e) {
    c.switch.setSession(undefined);
    for (const name of frozen) if (c.runner.has(name)) await c.runner.thaw(name);
    throw e;
  }
}

/** A step's request failed: its code (INTERNAL when it has none) and message, the error as cause. */
function failed(step: SessionSetupError['step'], e: unknown, prefix = ''): SessionSetupError {
  return new SessionSetupError(step, e instanceof WeftError ? e.code : Codes.INTERNAL, prefix + (e as Error).message, { cause: e });
}

function checkReply(v: unknown, app: string): OpenReply {
  let r: OpenReply;
  try {
    r = checkOpenReply(v);
  } catch (e) {
    throw new SessionSetupError('open', Codes.BAD_REQUEST, (e as Error).message, { cause: e });
  }
  for (const m of r.modules) {
    const a = parseVaddr(m.vaddr);
    if (a.app !== app || a.session !== r.session || a.module !== m.module) {
      throw new SessionSetupError('open', Codes.BAD_REQUEST, `placement of ${m.module} names ${m.vaddr}, not a module of this session`);
    }
  }
  return r;
}

async function apply(c: SetupContext, r: OpenReply, frozen: Set<string>): Promise<void> {
  const manifest = c.app.manifest;
  c.switch.setSession(r.session);
  const side = new Map(r.modules.map((m) => [m.module, m.side]));
  const download = new Set(r.download);
  c.emit({ kind: 'session', session: r.session, node: r.node, placements: Object.fromEntries(side) });
  for (const entry of manifest.modules) {
    const name = entry.name;
    const where = side.get(name) ?? (entry.kind === 'client' ? 'box' : 'headend');
    if (where === 'headend') {
      if (entry.kind === 'client') continue; // a client module stays where it is; the placement is wrong
      if (c.runner.has(name)) {
        // [c31] it moves back to the head-end with its state (sent in `running`).
        c.runner.stop(name);
        c.emit({ kind: 'module', module: name, action: 'moved-to-headend' });
      }
      c.switch.setRemote(name); // the proxy: what is sent to it goes over the return channel
      continue;
    }
    if (frozen.has(name)) {
      await c.runner.thaw(name);
      c.emit({ kind: 'module', module: name, action: 'kept-on-box' });
      continue;
    }
    if (c.runner.has(name)) continue;
    if (download.has(name)) {
      c.switch.hold(name);
      await fetchAndStart(c, r, name);
      continue;
    }
    // Placed here, not to be downloaded: it came on the carousel.
    const mod = c.app.modules.get(name);
    if (mod === undefined || entry.kind !== 'mutable') continue;
    const s = await c.runner.start(mod);
    if (!s.ok) throw new SessionSetupError('start', s.error.code, s.error.message);
    c.emit({ kind: 'module', module: name, action: 'started' });
  }
  // [c42] the client portion runs: tell the server portion.
  const started = { session: r.session, modules: c.runner.running() };
  await c.loader.control({ vaddr: r.dasp }, SessionOps.clientStarted, started, { timeoutMs: c.timeoutMs }).catch((e: unknown) => {
    c.unconfirmed?.(r.session);
    throw failed('client-started', e);
  });
}

// [c41] a module of the client portion from the selected node, checked against the signed
// manifest (size and sha-256) before it runs; a mismatch never runs.
async function fetchAndStart(c: SetupContext, r: OpenReply, name: string): Promise<void> {
  let reply;
  try {
    const raw = await c.loader.request({ vaddr: modulesVaddr(r.node) }, { session: r.session, module: name }, { op: SessionOps.moduleGet, timeoutMs: c.timeoutMs });
    reply = checkModuleGetReply(raw);
  } catch (e) {
    c.switch.remove(name);
    throw failed('download', e, `${name}: `);
  }
  const entry = c.app.manifest.modules.find((m) => m.name === name);
  const v = entry === undefined || reply.module !== name || reply.sha256 !== entry.sha256 ? undefined : await verifyModule(c.app.trusted, name, reply.code);
  if (v === undefined || !v.ok) {
    c.switch.remove(name);
    const why = v === undefined ? 'the reply does not match the signed manifest entry' : v.error.message;
    c.emit({ kind: 'refused', problem: 'tampered-module', module: name, message: why });
    throw new SessionSetupError('verify', Codes.FORBIDDEN, `${name}: ${why}`);
  }
  const s = await c.runner.start(v.value, reply.state);
  if (!s.ok) {
    c.switch.remove(name);
    throw new SessionSetupError('start', s.error.code, s.error.message);
  }
  c.emit({ kind: 'module', module: name, action: 'downloaded' });
}
