// Running the lab's outside programs (apt-get, npm, ip, nft, qemu): one bounded helper for
// commands that finish, and one for long-lived children whose stdout is JSON lines. Failures
// end in a LabError that names the command and the tail of what it said, never a hang.

import { execFile, spawn, type ChildProcess } from 'node:child_process';

/** A lab step that failed: `step` names it for the one-line message the CLI prints. */
export class LabError extends Error {
  readonly step: string;
  constructor(step: string, message: string, options?: { cause?: unknown }) {
    super(`${step}: ${message}`, options);
    this.name = 'LabError';
    this.step = step;
  }
}

const OUTPUT_CAP = 64 * 1024; // bytes of a command's output kept for messages and parsing
const tail = (s: string): string => s.trim().split('\n').slice(-3).join(' | ').slice(-400);

/** Run a command to its end; resolves its stdout, or rejects with a LabError after `timeoutMs`. */
export function run(cmd: string, args: readonly string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; step?: string } = {}): Promise<string> {
  const step = o.step ?? `${cmd} ${args.slice(0, 2).join(' ')}`;
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, timeout: o.timeoutMs ?? 120_000, maxBuffer: 8 * OUTPUT_CAP, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err === null) resolve(stdout);
      else reject(new LabError(step, tail(`${stderr}\n${err.message}`), { cause: err }));
    });
  });
}

/** One JSON line of a child, with the parent's clock when it arrived. */
export interface Line {
  atMs: number;
  o: Record<string, unknown>;
}

export interface LineChild {
  readonly child: ChildProcess;
  readonly lines: Line[];
  stderr(): string;
  /** Resolves with the first line (past or future) that matches; rejects on exit or after `timeoutMs`. */
  waitFor(match: (o: Record<string, unknown>, l: Line) => boolean, timeoutMs: number, what: string): Promise<Line>;
  /** Resolves with the exit code once the child has ended (null: killed by a signal). */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

const MAX_LINES = 20_000;

/** Spawn a child that prints JSON lines (the firmware, a head-end); non-JSON lines are kept in stderr(). */
export function spawnLines(cmd: string, args: readonly string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; now: () => number; onLine?: (l: Line) => void }): LineChild {
  const child = spawn(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Line[] = [];
  const waiters = new Set<{ match: (x: Record<string, unknown>, l: Line) => boolean; hit: (l: Line) => void }>();
  let err = '';
  let buf = '';
  let exitCode: number | null | undefined;
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-OUTPUT_CAP)));
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    if (buf.length > OUTPUT_CAP) buf = buf.slice(-OUTPUT_CAP);
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const text of parts) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        err = (err + text + '\n').slice(-OUTPUT_CAP);
        continue;
      }
      if (parsed === null || typeof parsed !== 'object') continue;
      const l = { atMs: o.now(), o: parsed as Record<string, unknown> };
      if (lines.length < MAX_LINES) lines.push(l);
      o.onLine?.(l);
      for (const w of waiters) if (w.match(l.o, l)) w.hit(l);
    }
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (e) => {
      err += `\n${e.message}`;
      exitCode = null;
      resolve(null);
    });
    child.once('exit', (code) => {
      exitCode = code;
      resolve(code);
    });
  });
  const waitFor = (match: (x: Record<string, unknown>, l: Line) => boolean, timeoutMs: number, what: string): Promise<Line> => {
    const seen = lines.find((l) => match(l.o, l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<Line>((resolve, reject) => {
      const w = { match, hit: (l: Line) => done(() => resolve(l)) };
      const done = (f: () => void): void => {
        clearTimeout(timer);
        waiters.delete(w);
        f();
      };
      const last = (): string => JSON.stringify(lines.at(-1)?.o ?? null).slice(0, 300);
      const timer = setTimeout(() => done(() => reject(new LabError(what, `not within ${timeoutMs} ms (last line ${last()}; ${tail(err) || 'no stderr'})`))), timeoutMs);
      waiters.add(w);
      void exited.then((c) => done(() => reject(new LabError(what, `the process ended (code ${c}) first: ${tail(err) || 'no output'}`))));
    });
  };
  const stop = async (): Promise<number | null> => {
    if (exitCode === undefined) child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    const c = await exited;
    clearTimeout(killer);
    return c;
  };
  return { child, lines, stderr: () => err, waitFor, exited, stop };
}
