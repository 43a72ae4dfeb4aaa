// policy/load.ts: the one definition of a node's load (DECISIONS D16).
import test from 'ava';
import { ArgumentError } from '../../runtime/index.ts';
import { nodeLoad } from '../../policy/index.ts';

test('load is the demand of hosted work: sessions x cost x share, shared portions and replicas by their cost', (t) => {
  const r = nodeLoad([
    { app: 'guide', kind: 'session', count: 10, cost: 0.2 },
    { app: 'vod', kind: 'session', count: 4, cost: 0.5, share: 0.5 },
    { app: 'guide', kind: 'shared', count: 1, cost: 1.5 },
    { app: 'chat', kind: 'replica', count: 1, cost: 3, share: 0.25 },
  ]);
  t.is(r.sessions, 14, 'only session portions count as sessions');
  t.deepEqual(r.apps, { guide: 2 + 1.5, vod: 1, chat: 0.75 });
  t.is(r.load, 2 + 1 + 1.5 + 0.75);
  t.deepEqual(nodeLoad([]), { load: 0, apps: {}, sessions: 0 });
});

test('impossible work is a bad argument, not a silent load', (t) => {
  t.throws(() => nodeLoad([{ app: 'a', kind: 'session', count: -1, cost: 1 }]), { instanceOf: ArgumentError });
  t.throws(() => nodeLoad([{ app: 'a', kind: 'replica', count: 1, cost: 1, share: 1.5 }]), { instanceOf: ArgumentError });
  t.throws(() => nodeLoad([{ app: 'a', kind: 'shared', count: 1, cost: Number.NaN }]), { instanceOf: ArgumentError });
});
