// docs/SERVICES.md is generated from the services' own schemas (`npm run docs:services`), and a
// test fails when the file and the code disagree: the reference for app authors cannot drift.
import { codeName, Codes } from '../../runtime/index.ts';
import { epgService, guideService } from './guide-data.ts';
import type { ArgSpec, HeadendService, MethodSpec } from './service.ts';
import { vodService } from './vod.ts';

/** The services a default head-end runs, built with fixed inputs (the schemas do not depend on them). */
export function defaultServices(): HeadendService[] {
  const from = Date.UTC(2026, 0, 1);
  return [epgService({ from, channels: 24 }), guideService({ from, channels: 24 }), vodService({ now: () => from })];
}

export function servicesMarkdown(services: HeadendService[]): string {
  const out = [
    '# Head-end services',
    '',
    '<!-- Generated from headend/services/*.ts by `npm run docs:services`; test/headend/services-doc.test.ts fails when it is stale. -->',
    '',
    'A peer module declares the services it uses in its manifest (`"uses": ["services.epg"]`), which',
    "pins it to the head-end [c6, c7], and calls `await weft.services.request('<service>', { op: '<method>', ...arguments })`,",
    "e.g. `weft.services.request('epg', { op: 'listings', day: 0 })`. The call becomes a request with op",
    '`svc.<service>.<method>`; the head-end checks the arguments against the schema below before the',
    'method runs and answers `BAD_REQUEST` (code 1) naming the argument that failed, or an unknown one.',
    'The caller (app, session, box) comes from authentication, never from the arguments.',
    '',
  ];
  for (const s of services) {
    out.push(`## ${s.name}`, '', s.doc, '');
    for (const [name, m] of Object.entries(s.methods)) out.push(...method(s.name, name, m));
  }
  return `${out.join('\n').trimEnd()}\n`;
}

function method(service: string, name: string, m: MethodSpec): string[] {
  const lines = [`### ${service}.${name}`, '', m.summary, ''];
  const args = Object.entries(m.args);
  if (args.length === 0) lines.push('Arguments: none.', '');
  else {
    lines.push('| argument | type | required | meaning |', '|---|---|---|---|');
    for (const [a, spec] of args) lines.push(`| \`${a}\` | ${typeText(spec)} | ${required(spec)} | ${spec.doc} |`);
    lines.push('');
  }
  lines.push(`Returns: ${m.returns}`, '');
  const errors = [{ code: 'BAD_REQUEST' as const, when: 'an argument is missing, unknown or out of range' }, ...(m.errors ?? [])];
  lines.push('Errors: ' + errors.map((e) => `\`${codeName(Codes[e.code])}\` (${Codes[e.code]}) when ${e.when}`).join('; ') + '.', '');
  return lines;
}

function typeText(a: ArgSpec): string {
  return a.type === 'string' ? `string, 1..${a.max} characters` : `integer, ${a.min}..${a.max === Number.MAX_SAFE_INTEGER ? '2^53-1' : a.max}`;
}

function required(a: ArgSpec): string {
  if (a.type === 'string') return a.optional === true ? 'no' : 'yes';
  return a.default === undefined ? 'yes' : `no (default ${a.default === Number.MAX_SAFE_INTEGER ? '2^53-1' : a.default})`;
}
