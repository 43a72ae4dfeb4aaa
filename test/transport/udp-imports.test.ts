// The UDP transport's files import one way: no cycle, type-only imports included (eslint's
// import-x/no-cycle skips those, so this reads the import lines itself).

import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const DIR = join(import.meta.dirname, '..', '..', 'transport');

function importsOf(file: string): string[] {
  const src = readFileSync(join(DIR, file), 'utf8');
  return [...src.matchAll(/^\s*(?:import|export)\b[^;]*?from\s+'\.\/([\w.-]+\.ts)'/gms)].map((m) => m[1] as string);
}

/** The first cycle found from `start` as a list of files, or undefined. */
function cycleFrom(start: string, graph: Map<string, string[]>): string[] | undefined {
  const path: string[] = [];
  const onPath = new Set<string>();
  const done = new Set<string>();
  const visit = (f: string): string[] | undefined => {
    if (onPath.has(f)) return [...path.slice(path.indexOf(f)), f];
    if (done.has(f)) return undefined;
    path.push(f);
    onPath.add(f);
    for (const g of graph.get(f) ?? []) {
      const c = visit(g);
      if (c !== undefined) return c;
    }
    path.pop();
    onPath.delete(f);
    done.add(f);
    return undefined;
  };
  return visit(start);
}

test('transport/udp*.ts: no import cycle, type-only imports counted', (t) => {
  const files = readdirSync(DIR).filter((f) => /^udp.*\.ts$/.test(f));
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  t.true((graph.get('udp.ts') ?? []).includes('udp-peers.ts'), 'the import reader sees imports');
  for (const f of files) {
    const c = cycleFrom(f, graph);
    t.is(c, undefined, `cycle: ${(c ?? []).join(' -> ')}`);
  }
});
