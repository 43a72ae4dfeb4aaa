// Serves the console (app.ts) over HTTP on one address: loopback by default, port 0 for any free
// one, so several nodes on one host never collide. Owns the history timer and the static files.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { rejectUnknown } from '../../runtime/index.ts';
import { consoleApp, type Asset, type ConsoleRoutes } from './app.ts';
import { History } from './history.ts';
import { ConsoleMetrics } from './metrics.ts';
import type { ConsoleSource } from './source.ts';

export interface ConsoleOptions {
  source: ConsoleSource;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** The operator token; default: 32 random hex characters (printed by the caller). */
  token?: string;
  /** History sample interval, ms; default 5000 (the charts keep 720 samples: one hour). */
  historyEveryMs?: number;
  pushEveryMs?: number;
  onAction?: (name: string, ok: boolean, detail: string) => void;
  /** More routes on the same server (the releases admin API). */
  routes?: readonly ConsoleRoutes[];
}

export interface RunningConsole {
  readonly url: string;
  readonly token: string;
  readonly history: History;
  close(): Promise<void>;
}

const KNOWN = ['source', 'host', 'port', 'token', 'historyEveryMs', 'pushEveryMs', 'onAction', 'routes'];

export async function startConsole(o: ConsoleOptions): Promise<RunningConsole> {
  rejectUnknown('startConsole', o, KNOWN);
  const token = o.token ?? randomBytes(16).toString('hex');
  if (token.length < 16) throw new RangeError('startConsole: the operator token must have at least 16 characters');
  const history = new History(720);
  const metrics = new ConsoleMetrics(() => o.source.snapshot());
  const app = consoleApp({ source: o.source, metrics, history, token, assets: assets(), pushEveryMs: o.pushEveryMs ?? 1000, ...(o.onAction === undefined ? {} : { onAction: o.onAction }), ...(o.routes === undefined ? {} : { routes: o.routes }) });
  const host = o.host ?? '127.0.0.1';
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: o.port ?? 0 }, () => resolve(s));
    s.once('error', reject);
  });
  history.sample(o.source.snapshot());
  const timer = setInterval(() => history.sample(o.source.snapshot()), o.historyEveryMs ?? 5000);
  timer.unref();
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    token,
    history,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

function assets(): Record<string, Asset> {
  const here = (f: string): string => readFileSync(new URL(`./assets/${f}`, import.meta.url), 'utf8');
  const require = createRequire(import.meta.url);
  const uplot = (f: string): string => readFileSync(require.resolve(`uplot/dist/${f}`), 'utf8');
  return {
    '/': { type: 'text/html; charset=utf-8', body: here('index.html') },
    '/console.js': { type: 'text/javascript; charset=utf-8', body: here('console.js') },
    '/console.css': { type: 'text/css; charset=utf-8', body: here('console.css') },
    '/uplot.js': { type: 'text/javascript; charset=utf-8', body: uplot('uPlot.iife.min.js') },
    '/uplot.css': { type: 'text/css; charset=utf-8', body: uplot('uPlot.min.css') },
  };
}
