// `weft app publish|list|status|promote|halt|rollback`: the releases admin API of a running
// head-end (its console URL and operator token). `publish --watch` republishes a lab head-end
// whenever the built app changes (`npm run build` in another terminal).
import { readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UserError } from './user-error.ts';

export interface Common {
  headend: string;
  token?: string;
  json?: boolean;
}

function base(o: Common): { url: string; token: string | undefined } {
  let url: URL;
  try {
    url = new URL(o.headend);
  } catch {
    throw new UserError(`--headend: "${o.headend}" is not a URL`, "give the head-end's console URL, printed in its ready line (e.g. http://127.0.0.1:8080/)");
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UserError(`--headend: ${url.protocol} is not http: or https:`, "the admin API is on the head-end's console URL, not its MQTT broker");
  return { url: url.href.replace(/\/?$/, '/'), token: o.token ?? process.env.WEFT_CONSOLE_TOKEN };
}

/** A call to the console's admin API (token from --token or WEFT_CONSOLE_TOKEN); failures are one-line user errors. */
export async function call(o: Common, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const { url, token } = base(o);
  if (method === 'POST' && token === undefined) throw new UserError('no operator token', "give --token or WEFT_CONSOLE_TOKEN (the head-end prints it in its ready line as consoleToken)");
  let r: Response;
  try {
    r = await fetch(`${url}${path}`, { method, headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  } catch (e) {
    throw new UserError(`cannot reach the head-end at ${url}: ${(e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message}`, 'is it running? check --headend');
  }
  const answer = (await r.json().catch(() => ({ error: r.statusText }))) as { error?: string };
  if (!r.ok) throw new UserError(`${method === 'GET' ? 'query' : path.split('/').at(-1) ?? 'request'} failed (${r.status}): ${answer.error ?? 'no reason given'}`);
  return answer;
}

/** A built app folder (manifest.json, manifest.sig, modules) as the admin API takes it. */
export function readBuiltApp(dir: string): { manifest: string; signature: string; sources: Record<string, string> } {
  const read = (f: string): Buffer => {
    try {
      return readFileSync(join(dir, f));
    } catch {
      throw new UserError(`${join(dir, f)} is missing`, 'publish a built app folder (npm run build writes dist/apps/<app>)');
    }
  };
  const manifestBytes = read('manifest.json');
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as { modules?: { name: string; file: string }[] };
  const sources: Record<string, string> = {};
  for (const m of manifest.modules ?? []) sources[m.name] = read(m.file).toString('base64');
  return { manifest: manifestBytes.toString('base64'), signature: read('manifest.sig').toString('base64'), sources };
}

export function print(o: Common, value: unknown, text: () => string): void {
  console.log(o.json === true ? JSON.stringify(value) : text());
}

async function publish(dir: string, o: Common & { watch?: boolean }): Promise<void> {
  const once = async (): Promise<void> => {
    const r = (await call(o, 'POST', 'api/apps', readBuiltApp(dir))) as { app: string; version: string; state: string; note?: string };
    print(o, r, () => `published ${r.app} ${r.version}: ${r.state}${r.note === undefined ? '' : ` (${r.note})`}`);
  };
  await once();
  if (o.watch !== true) return;
  console.error(`watching ${dir}; rebuild with npm run build (bump the version to publish a new one; Ctrl-C to stop)`);
  let timer: NodeJS.Timeout | undefined;
  const w = watch(dir, () => {
    clearTimeout(timer);
    // The build writes several files; publish once they have settled.
    timer = setTimeout(() => once().catch((e: Error) => console.error(`weft: ${e.message}`)), 300);
  });
  await new Promise<void>((resolve) => process.once('SIGINT', resolve));
  w.close();
}

export function registerApp(program: Command): void {
  const app = program.command('app').description("publish and roll out app versions on a running head-end (its console's admin API)");
  const common = (c: Command): Command =>
    c
      .requiredOption('--headend <url>', "the head-end's console URL (printed in its ready line)")
      .option('--token <token>', 'operator token (default: WEFT_CONSOLE_TOKEN)')
      .option('--json', 'print JSON');
  common(app.command('publish <dir>').description('publish a built, signed app folder (verified by the head-end before it is accepted)'))
    .option('--watch', 'republish whenever the folder changes (a dev loop against a lab head-end)')
    .action(async (dir: string, o: Common & { watch?: boolean }) => publish(dir, o));
  common(app.command('list').description('every published version and its state')).action(async (o: Common) => {
    const rows = (await call(o, 'GET', 'api/apps')) as { app: string; version: string; state: string }[];
    print(o, rows, () => rows.map((r) => `${r.app.padEnd(16)} ${r.version.padEnd(12)} ${r.state}`).join('\n') || '(nothing published)');
  });
  common(app.command('status <app>').description("an app's versions, states and rollout plan")).action(async (name: string, o: Common) => {
    const rows = (await call(o, 'GET', `api/apps/${encodeURIComponent(name)}`)) as { version: string; state: string; plan?: { wave: number; waves: unknown[] } }[];
    print(o, rows, () => rows.map((r) => `${r.version.padEnd(12)} ${r.state}${r.plan === undefined ? '' : ` (wave ${r.plan.wave + 1} of ${r.plan.waves.length})`}`).join('\n') || `(no version of ${name})`);
  });
  const op = (name: 'promote' | 'halt' | 'rollback', what: string, extra?: (c: Command) => Command): void => {
    const c = common(app.command(`${name} <app> <version>`).description(what));
    (extra?.(c) ?? c).action(async (a: string, v: string, o: Common & { plan?: string; now?: boolean }) => {
      const body = name === 'promote' ? { ...(o.plan === undefined ? {} : { plan: readPlan(o.plan) }), ...(o.now === true ? { now: true } : {}) } : {};
      const r = (await call(o, 'POST', `api/apps/${encodeURIComponent(a)}/${encodeURIComponent(v)}/${name}`, body)) as { state: string; note?: string };
      print(o, r, () => `${a} ${v}: ${r.state}${r.note === undefined ? '' : ` (${r.note})`}`);
    });
  };
  op('promote', 'start a rollout (default plan, or --plan), advance it a wave, or --now make the version live', (c) => c.option('--plan <file>', 'rollout plan, JSON (docs/ROLLOUT.md)').option('--now', 'make it live at once'));
  op('halt', 'stop a rolling version where it is');
  op('rollback', 'roll back a candidate, or make an older version live again');
}

function readPlan(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`--plan ${file}: ${(e as Error).message}`, 'give a JSON rollout plan file (docs/ROLLOUT.md)');
  }
}
