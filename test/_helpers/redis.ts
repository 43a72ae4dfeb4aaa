// Starts a throwaway redis-server on a free loopback port (no persistence), waits until it
// accepts connections, and kills it afterwards. Callers check for the program with needProgram.

import { type ChildProcess, spawn } from 'node:child_process';
import { freeTcpPort } from './ports.ts';

export interface RedisServer {
  port: number;
  url: string;
  /** Kill the server and wait for it to exit. Idempotent. */
  stop(): Promise<void>;
}


/** Start one redis-server on `port` with `extra` arguments; resolves when it accepts connections. */
export function launchRedis(program: string, port: number, extra: string[] = []): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'notice', ...extra];
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => fail(new Error(`redis-server did not become ready in 10 s:\n${log}`)), 10_000);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    };
    const onData = (chunk: Buffer): void => {
      log += chunk.toString('utf8');
      if (log.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (c: Buffer) => (log += c.toString('utf8')));
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`redis-server exited with ${String(code)} before it was ready:\n${log}`)));
  });
}

/** Start redis-server (path from needProgram); retries on another port if the one picked was taken. */
export async function startRedis(program: string): Promise<RedisServer> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeTcpPort();
    let child: ChildProcess;
    try {
      child = await launchRedis(program, port);
    } catch (e) {
      lastError = e;
      continue;
    }
    child.removeAllListeners('exit');
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let stopped: Promise<void> | undefined;
    return {
      port,
      url: `redis://127.0.0.1:${port}`,
      stop: () => {
        stopped ??= (child.exitCode === null && child.signalCode === null ? (child.kill('SIGTERM'), exited) : Promise.resolve());
        return stopped;
      },
    };
  }
  throw lastError;
}
