// A `weft headend node` process for cluster tests on real processes: its stdout and stderr lines,
// its console URL, and `until` (the first line from an index on that matches, seen or to come;
// rejects when the process exits first). No sleeps.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const CLI = new URL('../../cli/main.ts', import.meta.url).pathname;

export interface NodeProc {
  id: string;
  child: ChildProcess;
  lines: string[];
  url: string;
  until(re: RegExp, what: string, from?: number): Promise<string>;
  stop(): Promise<void>;
}

export function startNodeProc(id: string, args: string[], clusterKey: string): Promise<NodeProc> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'headend', 'node', '--node', id, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WEFT_CLUSTER_KEY: clusterKey } });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let err = '';
  const until = (re: RegExp, what: string, from = 0): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = lines.slice(from).find((l) => re.test(l));
        if (hit !== undefined) {
          waiters.delete(check);
          resolve(hit);
        } else if (child.exitCode !== null || child.signalCode !== null) reject(new Error(`${id} exited waiting for ${what}: ${err.slice(-400)}`));
      };
      waiters.add(check);
      check();
    });
  for (const s of [child.stdout, child.stderr]) createInterface({ input: s as NodeJS.ReadableStream }).on('line', (l) => (lines.push(l), [...waiters].forEach((w) => w())));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  child.once('exit', () => [...waiters].forEach((w) => w()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  return until(/"event":"ready"/, 'the ready line').then((l) => ({ id, child, lines, until, stop, url: String((JSON.parse(l) as { console: string }).console) }));
}
