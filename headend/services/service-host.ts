// Serves head-end services over the message protocol [c34-c36]: a request with op
// `svc.<service>.<method>` and the arguments as body. The caller is derived from the
// envelope's source virtual address (stamped by the node, never by guest code).

import { Codes, RemoteError, parseVaddr, rejectUnknown, type Envelope } from '../../runtime/index.ts';
import { checkArgs, type CallerInfo, type HeadendService } from './service.ts';

export interface ServiceHostOptions {
  services: HeadendService[];
  /** Box id of a session, for services that bill or personalise. */
  boxOf?: (app: string, session: string) => string | undefined;
}

export interface ServiceHostStats {
  calls: Record<string, number>;
  errors: number;
}

export const SERVICE_OP_PREFIX = 'svc.';

export class ServiceHost {
  #services = new Map<string, HeadendService>();
  #boxOf: (app: string, session: string) => string | undefined;
  #stats: ServiceHostStats = { calls: {}, errors: 0 };

  constructor(options: ServiceHostOptions) {
    rejectUnknown('ServiceHost', options, ['services', 'boxOf']);
    for (const s of options.services) this.#services.set(s.name, s);
    this.#boxOf = options.boxOf ?? (() => undefined);
  }

  names(): string[] {
    return [...this.#services.keys()];
  }

  stats(): ServiceHostStats {
    return { calls: { ...this.#stats.calls }, errors: this.#stats.errors };
  }

  /** A Channel `onRequest` handler. */
  handle = (env: Envelope): unknown => {
    const op = env.op ?? '';
    if (!op.startsWith(SERVICE_OP_PREFIX)) throw new RemoteError(Codes.NOT_FOUND, `not a service operation: "${op}"`);
    const [service, method, ...rest] = op.slice(SERVICE_OP_PREFIX.length).split('.');
    const s = service === undefined ? undefined : this.#services.get(service);
    const spec = s === undefined || method === undefined || rest.length > 0 ? undefined : Object.hasOwn(s.methods, method) ? s.methods[method] : undefined;
    if (spec === undefined) {
      this.#stats.errors++;
      throw new RemoteError(Codes.NOT_FOUND, `no service method "${op.slice(SERVICE_OP_PREFIX.length)}"`);
    }
    this.#stats.calls[op] = (this.#stats.calls[op] ?? 0) + 1;
    let args;
    try {
      args = checkArgs(spec, env.body);
    } catch (e) {
      this.#stats.errors++;
      throw e;
    }
    return spec.call(args, this.#caller(env));
  };

  #caller(env: Envelope): CallerInfo {
    const v = env.src.vaddr;
    if (v === undefined) return { app: '', session: '' };
    const p = parseVaddr(v);
    const boxId = this.#boxOf(p.app, p.session);
    return boxId === undefined ? { app: p.app, session: p.session } : { app: p.app, session: p.session, boxId };
  }
}
