// Scripting an emulated box from the command line (issue 16): a timed key script (`--keys`),
// keys from a terminal's stdin, and `--exit-on <state>` / `--timeout <s>` with exit codes, so a
// shell script can wait for a box instead of sleeping. Pure parsing here plus one small driver.
import { BOOT_STATES, type BootState } from '../loader/index.ts';
import { UserError } from './user-error.ts';

/** Exit codes of `weft box run` and `weft fleet run` with --exit-on. */
export const EXIT = { reached: 0, timeout: 3 } as const;

// A key is what the app's `key` handler receives: one character or a key name (the app decides
// what its keys mean; remotes have dozens). Bounded so a script cannot smuggle anything else.
const KEY = /^(?:[a-z0-9 ]|[a-z][a-z0-9+-]{1,15})$/;

/** `"1,2,ok"` -> ['1', '2', 'ok']: one key per comma-separated token. */
export function parseKeys(spec: string): string[] {
  const out: string[] = [];
  for (const raw of spec.split(',')) {
    const k = raw.trim().toLowerCase();
    if (k === '') continue;
    if (!KEY.test(k)) throw new UserError(`--keys: "${raw.trim()}" is not a remote key`, 'use single letters or digits and key names (up, down, ok, back, ...), separated by commas');
    out.push(k);
  }
  if (out.length === 0) throw new UserError('--keys: no keys given', 'e.g. --keys "n,e,w,s,down,ok"');
  return out;
}

export function parseState(s: string): BootState {
  if (!(BOOT_STATES as readonly string[]).includes(s)) throw new UserError(`--exit-on: unknown state "${s}"`, `use one of ${BOOT_STATES.join(', ')}`);
  return s as BootState;
}

/** A terminal key sequence -> a remote key name, or undefined for keys that mean nothing. */
export function terminalKey(seq: string): string | undefined {
  const named: Record<string, string> = { '\x1b[A': 'up', '\x1b[B': 'down', '\x1b[C': 'right', '\x1b[D': 'left', '\r': 'ok', '\n': 'ok', '\x7f': 'back', '\b': 'back', '\x1b': 'exit' };
  if (named[seq] !== undefined) return named[seq];
  return /^[a-z0-9 ]$/i.test(seq) ? seq.toLowerCase() : undefined;
}

export interface Script {
  /** Resolves with an exit code when the target state is reached or the timeout passes; never when neither is set. */
  done: Promise<number>;
  /** Feed each box state change here, with the box's id (a fleet feeds every box). */
  onState(state: BootState, box?: string): void;
  /** Feed each scene a module shows (its `screen` field), with the box's id. */
  onScene(screen: unknown, box?: string): void;
  stop(): void;
}

/**
 * Drive one box (or every box of a fleet, when `count` > 1): press `keys` one every `gapMs`
 * once the boxes run (up or degraded), resolve when all `count` boxes reached `exitOn`, or
 * showed a scene whose `screen` is `exitOnScene` (a script's way to wait for the app's answer).
 */
export function runScript(o: { keys: string[]; gapMs: number; exitOn?: BootState; exitOnScene?: string; timeoutS?: number; count: number; press: (key: string) => void }): Script {
  const reached = new Set<string>();
  let pressing = false;
  const timers: NodeJS.Timeout[] = [];
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (finish = resolve));
  if (o.timeoutS !== undefined && o.timeoutS > 0) timers.push(setTimeout(() => finish(EXIT.timeout), o.timeoutS * 1000));
  const startKeys = (): void => {
    if (pressing || o.keys.length === 0) return;
    pressing = true;
    o.keys.forEach((k, i) => timers.push(setTimeout(() => o.press(k), (i + 1) * o.gapMs)));
  };
  const scenes = new Set<string>();
  return {
    done,
    onScene(screen, box = '') {
      if (o.exitOnScene === undefined || screen !== o.exitOnScene || scenes.has(box)) return;
      scenes.add(box);
      if (scenes.size >= o.count) finish(EXIT.reached);
    },
    onState(state, box = '') {
      if (state === 'up' || state === 'degraded') startKeys();
      if (state !== o.exitOn || reached.has(box)) return;
      reached.add(box);
      if (reached.size >= o.count) {
        // Let the pressed keys land first when both are asked for.
        const last = pressing ? (o.keys.length + 1) * o.gapMs : 0;
        timers.push(setTimeout(() => finish(EXIT.reached), last));
      }
    },
    stop() {
      for (const t of timers) clearTimeout(t);
    },
  };
}

/** Read remote keys from a terminal's stdin (raw mode) until stopped; q or Ctrl-C quits. */
export function keysFromTerminal(press: (key: string) => void, quit: () => void): () => void {
  const stdin = process.stdin;
  if (stdin.isTTY !== true) return () => {};
  stdin.setRawMode(true);
  stdin.resume();
  const onData = (d: Buffer): void => {
    const s = d.toString('utf8');
    if (s === '\x03' || s === 'q') return quit();
    const k = terminalKey(s);
    if (k !== undefined) press(k);
  };
  stdin.on('data', onData);
  return () => {
    stdin.off('data', onData);
    stdin.setRawMode(false);
    stdin.pause();
  };
}
