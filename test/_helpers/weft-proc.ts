// A `weft` child process printing JSON lines (head-ends, boxes), for tests on real processes:
// `until` waits for a line that matches (no sleeps; it fails once the process has ended without
// it), `stop` ends it with SIGTERM and waits. `runWeft`: a `weft` run to its end, for commands
// that finish (mistakes, scripted boxes).
import { spawn, type ChildProcess } from 'node:child_process';

const ROOT = new URL('../../', import.meta.url).pathname;

export class WeftProc {
  readonly lines: Record<string, unknown>[] = [];
  #waiters = new Set<() => void>();
  err = '';
  /** Set once the process has ended and its output is all read ('close'). */
  #closed = false;
  constructor(readonly child: ChildProcess) {
    child.once('close', () => {
      this.#closed = true;
      for (const w of [...this.#waiters]) w();
    });
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          continue;
        }
        for (const w of [...this.#waiters]) w();
      }
    });
    child.stderr?.on('data', (d: Buffer) => (this.err += d.toString()));
  }

  /** `weft <args>` from the repository root. */
  static start(args: string[]): WeftProc {
    return new WeftProc(spawn(process.execPath, ['cli/bin.mjs', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  /** The first line (from index `from` on) that matches, seen or to come. */
  until(pred: (l: Record<string, unknown>) => boolean, what: string, ms = 60_000, from = 0): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.lines.slice(from).find(pred);
        if (hit === undefined && !this.#closed) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        if (hit !== undefined) resolve(hit);
        else reject(new Error(`exited (${String(this.child.exitCode ?? this.child.signalCode)}) waiting for ${what}: ${this.err.slice(-500)}`));
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; last lines ${JSON.stringify(this.lines.slice(-8))} ${this.err.slice(-500)}`));
      }, ms);
      this.#waiters.add(check);
      check();
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}

/** What `weft <args>` left when it ended: exit code, stdout, stderr; `lines`: stdout's JSON lines, parsed when read. */
export interface WeftRun {
  code: number | null;
  out: string;
  err: string;
  readonly lines: Record<string, unknown>[];
}

/** `weft <args>` from the repository root, run to its end; never rejects (a failure is its code and stderr). */
export function runWeft(args: string[]): Promise<WeftRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['cli/bin.mjs', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // 'close', not 'exit': stdout and stderr are read to their end by then.
    child.once('close', (code) =>
      resolve({
        code,
        out,
        err,
        get lines() {
          return out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
        },
      }),
    );
  });
}
