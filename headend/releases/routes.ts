// The admin API of releases on the console's HTTP server (one server, one operator token):
// publish, list, status, promote, halt, rollback. Used by `weft app ...` and the console.
import type { Context, Hono } from 'hono';
import type { ReleaseOutcome, Releases } from './releases.ts';

/** Answers 401 (a Response) when the request lacks the operator token, else undefined. */
export type Guard = (c: Context) => Response | undefined;

const MAX_PUBLISH_BYTES = 64 * 1024 * 1024; // 64 modules of up to 4 MiB, base64, and then some
const MAX_BODY = 64 * 1024;

export function releaseRoutes(app: Hono, releases: Releases, guard: Guard, operator: (c: Context) => string): void {
  app.get('/api/apps', async (c) => c.json(await releases.list()));
  app.get('/api/apps/:app', async (c) => {
    try {
      return c.json(await releases.list(c.req.param('app')));
    } catch (e) {
      return c.json({ error: (e as Error).message }, 400);
    }
  });
  app.post('/api/apps', async (c) => {
    const denied = guard(c);
    if (denied !== undefined) return denied;
    const body = await jsonBody(c, MAX_PUBLISH_BYTES);
    if ('error' in body) return c.json({ error: body.error }, 400);
    const input = decodePublish(body.value);
    if (typeof input === 'string') return c.json({ error: input }, 400);
    return answer(c, await releases.publish(input, operator(c)));
  });
  for (const op of ['promote', 'halt', 'rollback'] as const) {
    app.post(`/api/apps/:app/:version/${op}`, async (c) => {
      const denied = guard(c);
      if (denied !== undefined) return denied;
      const body = await jsonBody(c, MAX_BODY);
      if ('error' in body) return c.json({ error: body.error }, 400);
      const { app: name, version } = c.req.param();
      const args = (body.value ?? {}) as { plan?: unknown; now?: unknown };
      try {
        if (op === 'promote') return answer(c, await releases.promote(name, version, { ...(args.plan === undefined ? {} : { plan: args.plan }), now: args.now === true }));
        return answer(c, op === 'halt' ? await releases.halt(name, version) : await releases.rollback(name, version));
      } catch (e) {
        return c.json({ error: (e as Error).message }, 400);
      }
    });
  }
}

function answer(c: Context, r: ReleaseOutcome): Response {
  if (r.ok) return c.json({ ok: true, app: r.release.app, version: r.release.version, state: r.release.state, ...(r.note === undefined ? {} : { note: r.note }) });
  const status = r.code === 'not-found' ? 404 : r.code === 'refused' ? 422 : 409;
  return c.json({ error: r.message }, status);
}

async function jsonBody(c: Context, max: number): Promise<{ value: unknown } | { error: string }> {
  const length = Number(c.req.header('content-length') ?? '0');
  if (length > max) return { error: `body over ${max} bytes` };
  const text = await c.req.text();
  if (text.length > max) return { error: `body over ${max} bytes` };
  if (text === '') return { value: undefined };
  try {
    return { value: JSON.parse(text) };
  } catch {
    return { error: 'the body must be JSON' };
  }
}

/** `{manifest, signature, sources: {name: base64}}` with base64 bytes, or the reason it is not. */
function decodePublish(v: unknown): { manifestBytes: Uint8Array; signature: Uint8Array; sources: Record<string, Uint8Array> } | string {
  const o = v as { manifest?: unknown; signature?: unknown; sources?: unknown } | null;
  if (o === null || typeof o !== 'object' || typeof o.manifest !== 'string' || typeof o.signature !== 'string' || o.sources === null || typeof o.sources !== 'object') {
    return 'publish takes {manifest, signature, sources: {<module>: <base64>}} with base64 bytes (weft app publish builds it)';
  }
  const sources: Record<string, Uint8Array> = {};
  for (const [name, b] of Object.entries(o.sources as Record<string, unknown>)) {
    if (typeof b !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(name)) return `sources.${name.slice(0, 40)}: a module name with base64 bytes`;
    sources[name] = new Uint8Array(Buffer.from(b, 'base64'));
  }
  return { manifestBytes: new Uint8Array(Buffer.from(o.manifest, 'base64')), signature: new Uint8Array(Buffer.from(o.signature, 'base64')), sources };
}
