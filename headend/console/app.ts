// The console's HTTP routes (hono), with no sockets: server.ts serves them. Reads are open on
// the console's address (loopback by default); every action needs the operator token as
// `Authorization: Bearer <token>`. Live updates as Server-Sent Events.
import { timingSafeEqual } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { History } from './history.ts';
import type { ConsoleMetrics } from './metrics.ts';
import type { ConsoleSource } from './source.ts';

export interface Asset {
  type: string;
  body: string;
}

export interface ConsoleAppOptions {
  source: ConsoleSource;
  metrics: ConsoleMetrics;
  history: History;
  token: string;
  /** Static files by URL path (`/`, `/console.js`, ...). */
  assets: Readonly<Record<string, Asset>>;
  /** How often the event stream pushes a snapshot, ms. */
  pushEveryMs: number;
  /** Called once per action, for the log. */
  onAction?: (name: string, ok: boolean, detail: string) => void;
  /** More routes on the same server (the releases admin API), given the token guard. */
  routes?: readonly ConsoleRoutes[];
}

/** Adds routes to the console's server; `guard` answers 401 without the operator token. */
export type ConsoleRoutes = (app: Hono, guard: (c: Context) => Response | undefined) => void;

const MAX_ACTION_BODY = 4096;

export function consoleApp(o: ConsoleAppOptions): Hono {
  const app = new Hono();
  const expected = Buffer.from(o.token);
  const authorized = (header: string | undefined): boolean => {
    const got = Buffer.from(header?.startsWith('Bearer ') === true ? header.slice(7) : '');
    return got.length === expected.length && timingSafeEqual(got, expected);
  };
  const guard = (c: Context): Response | undefined =>
    authorized(c.req.header('authorization')) ? undefined : c.json({ error: 'an operator token is needed: Authorization: Bearer <token> (printed when the console starts)' }, 401);
  for (const add of o.routes ?? []) add(app, guard);
  app.get('/metrics', async (c) => c.body(await o.metrics.scrape(), 200, { 'content-type': o.metrics.contentType }));
  app.get('/api/state', (c) => c.json(o.source.snapshot()));
  app.get('/api/history', (c) => c.json(o.history.points()));
  app.get('/api/actions', (c) => c.json(Object.keys(o.source.actions)));
  app.get('/api/events', (c) =>
    streamSSE(c, async (stream) => {
      let open = true;
      stream.onAbort(() => {
        open = false;
      });
      while (open) {
        await stream.writeSSE({ event: 'state', data: JSON.stringify(o.source.snapshot()) });
        await stream.sleep(o.pushEveryMs);
      }
    }),
  );
  app.post('/api/actions/:name', async (c) => {
    const name = c.req.param('name');
    const denied = guard(c);
    if (denied !== undefined) return denied;
    const action = Object.hasOwn(o.source.actions, name) ? o.source.actions[name] : undefined;
    if (action === undefined) return c.json({ error: `no action "${name}" (known: ${Object.keys(o.source.actions).join(', ')})` }, 404);
    const text = await c.req.text();
    if (text.length > MAX_ACTION_BODY) return c.json({ error: `body over ${MAX_ACTION_BODY} bytes` }, 413);
    let args: unknown;
    try {
      args = text === '' ? {} : JSON.parse(text);
    } catch {
      return c.json({ error: 'the body must be JSON' }, 400);
    }
    if (args === null || typeof args !== 'object' || Array.isArray(args)) return c.json({ error: 'the body must be a JSON object' }, 400);
    try {
      const result = await action(args as Record<string, unknown>);
      o.onAction?.(name, true, JSON.stringify(args));
      return c.json({ ok: true, result: result ?? null });
    } catch (e) {
      o.onAction?.(name, false, (e as Error).message);
      return c.json({ error: (e as Error).message }, 400);
    }
  });
  app.get('*', (c) => {
    const a = o.assets[c.req.path];
    return a === undefined ? c.text('not found', 404) : c.body(a.body, 200, { 'content-type': a.type });
  });
  return app;
}
