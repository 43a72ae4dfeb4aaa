// docs/SERVICES.md is what the services' schemas say, and the schemas are what the host enforces.
import { readFileSync } from 'node:fs';
import test from 'ava';
import { Codes, RemoteError, type Envelope } from '../../runtime/index.ts';
import { ServiceHost, checkArgs, defaultServices, servicesMarkdown } from '../../headend/services/index.ts';

test('docs/SERVICES.md is generated from the schemas (npm run docs:services when this fails)', (t) => {
  const doc = readFileSync(new URL('../../docs/SERVICES.md', import.meta.url), 'utf8');
  t.is(doc, servicesMarkdown(defaultServices()));
  for (const s of defaultServices()) for (const m of Object.keys(s.methods)) t.true(doc.includes(`### ${s.name}.${m}`), `${s.name}.${m} documented`);
});

const req = (op: string, body: unknown): Envelope => ({ v: 1, kind: 'req', id: 1, op, body, src: { vaddr: 'weft://guide/s1/epg' }, dst: { queue: 'services' } });

test('the host refuses arguments the schema does not allow, naming them, before the method runs', (t) => {
  const host = new ServiceHost({ services: defaultServices(), boxOf: () => 'b1' });
  const err = (op: string, body: unknown): RemoteError => t.throws(() => host.handle(req(op, body)), { instanceOf: RemoteError }) as RemoteError;
  t.like(err('svc.epg.listings', { day: 99 }), { code: Codes.BAD_REQUEST, message: 'day must be an integer in 0..13' });
  t.like(err('svc.epg.listings', { day: 1, extra: true }), { code: Codes.BAD_REQUEST, message: 'unknown argument "extra" (known: day)' });
  t.like(err('svc.guide.search', {}), { code: Codes.BAD_REQUEST, message: 'q must be a non-empty string of at most 64 characters' });
  t.like(err('svc.vod.order', 'm1'), { code: Codes.BAD_REQUEST, message: 'arguments must be an object' });
  t.is(host.stats().errors, 4);
  t.true((host.handle(req('svc.epg.listings', { day: 1 })) as unknown[]).length > 0);
  t.like(host.handle(req('svc.vod.order', { titleId: 'm1', key: 'k' })), { boxId: 'b1', titleId: 'm1' });
});

test('defaults fill absent optional arguments', (t) => {
  const search = defaultServices().find((s) => s.name === 'guide')?.methods.search;
  if (search === undefined) return t.fail('guide.search missing');
  t.deepEqual(checkArgs(search, { q: 'news' }), { q: 'news', limit: 20 });
});
