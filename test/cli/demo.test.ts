// `npm start` runs `weft demo`: the embedded head-end and a fleet showing the three box
// behaviours. This runs it as a user would, for a few seconds, and reads what it prints and
// what its console serves.
import test from 'ava';
import { spawn } from 'node:child_process';

const CLI = new URL('../../cli/main.ts', import.meta.url).pathname;

test('weft demo shows the legacy box on the head-end, the 4K box running search itself, the cut box degraded, and stops cleanly', async (t) => {
  t.timeout(120_000);
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'demo', '--seconds', '110', '--until-settled', '--console', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let state: { extra: { boxes: { id: string; state: string; search: string }[] }; nodes: { node: string }[] } | undefined;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /console (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
    if (m !== null && state === undefined) {
      state = null as never; // fetch once: the boxes are started before the console serves
      fetch(`${m[1]}api/state`)
        .then((r) => r.json())
        .then((j) => (state = j as typeof state))
        .catch(() => undefined);
    }
  });
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  t.is(code, 0, out.slice(-2000));
  const last = out.slice(out.lastIndexOf('weft demo  '));
  const line = (id: string): string => last.split('\n').find((l) => l.startsWith(id)) ?? '';
  t.regex(line('stb-legacy'), /\bup\b.*head-end/, 'legacy box: search stays on the head-end');
  t.regex(line('stb-4k'), /\bup\b.*on box/, '4K box: search runs locally');
  t.regex(line('stb-cut'), /degraded\s+fallback/, 'cut return channel: degraded, search from the fallback tier');
  t.regex(line('stb-bcast'), /degraded/);
  t.regex(last, /node-1\s+ok\s+sessions\s+3/);
  t.true(last.split('\n').every((l) => l.length <= 80), 'the summary fits 80 columns');
  t.regex(last, /^console http:\/\/127\.0\.0\.1:\d+\//m, 'the console URL stays on screen');
  t.regex(out, /weft demo: stopped cleanly/);
  t.truthy(state, 'the console answered /api/state');
  t.deepEqual(state?.extra.boxes.map((b) => b.id), ['stb-legacy', 'stb-4k', 'stb-dvr', 'stb-cut', 'stb-bcast']);
  t.is(state?.nodes[0]?.node, 'node-1');
});
