// A node's tables find an instance's addresses and a session's instances without a scan of every
// address (issue 19.6): with 10,000 sessions a burst of closes scanned the whole table once per
// stop and held the node's loop for tens of seconds in bench scale.
import test from 'ava';
import { DispatchTable } from '../../headend/node/table.ts';
import { PortionLifecycle, type LifecycleHost } from '../../headend/node/lifecycle.ts';
import { sessionInstance } from '../../headend/node/version-upgrade.ts';

const vaddr = (s: number, m: string): string => `weft://guide/s${s}/${m}`;

/** A table with `n` sessions, each one instance p<s> serving epg and search; iterations of `hosted` counted. */
function table(n: number): { t: DispatchTable; scans: () => number } {
  const t = new DispatchTable();
  for (let s = 0; s < n; s++) for (const m of ['epg', 'search']) t.host(vaddr(s, m), m, `p${s}`);
  let scans = 0;
  const iterate = t.hosted[Symbol.iterator].bind(t.hosted);
  const values = t.hosted.values.bind(t.hosted);
  const entries = t.hosted.entries.bind(t.hosted);
  Object.assign(t.hosted, {
    [Symbol.iterator]: () => (scans++, iterate()),
    values: () => (scans++, values()),
    entries: () => (scans++, entries()),
  });
  return { t, scans: () => scans };
}

test('unhost removes an instance from its own addresses only, and returns those nothing serves now', (t) => {
  const { t: tab, scans } = table(1000);
  tab.host(vaddr(3, 'epg'), 'epg', 'p3b'); // a replica beside p3 on one of its addresses
  const gone = tab.unhost('p3');
  t.deepEqual(gone, [vaddr(3, 'search')]);
  t.deepEqual(tab.hosted.get(vaddr(3, 'epg'))?.iids, ['p3b']);
  t.false(tab.hosts('p3'));
  t.deepEqual([...tab.vaddrsOf('p3b')], [vaddr(3, 'epg')]);
  t.deepEqual(tab.hosted.get(vaddr(4, 'epg'))?.iids, ['p4']);
  t.is(tab.hosted.size, 1999);
  t.is(scans(), 0, 'no scan of every address for one stop');
  t.deepEqual(tab.unhost('p3'), [], 'a second unhost is a no-op');
});

/** The parts of a lifecycle host a session stop uses; `spec` reads counted. */
function host(n: number): { h: LifecycleHost; stopped: string[]; specReads: () => number; scans: () => number } {
  const { t: tab, scans } = table(n);
  const stopped: string[] = [];
  let specReads = 0;
  const session = (iid: string): string => `s${iid.slice(1)}`;
  const portions = {
    spec: (iid: string) => (specReads++, { iid, session: session(iid) }),
    ofSession: (s: string) => Array.from({ length: n }, (_, i) => `p${i}`).filter((iid) => session(iid) === s),
    stop: async (iid: string) => void stopped.push(iid),
  };
  const h = {
    id: 'n1',
    table: tab,
    portions,
    elastic: { stopping: async () => {} },
    registry: { lookup: async () => undefined, unbind: async () => {} },
  } as unknown as LifecycleHost;
  return { h, stopped, specReads: () => specReads, scans };
}

test("a session's stop and its instance lookup read only that session's instances", async (t) => {
  const { h, stopped, specReads, scans } = host(1000);
  t.is(sessionInstance(h as never, 's7'), 'p7');
  t.is(sessionInstance(h as never, 's-none'), undefined);
  const life = new PortionLifecycle(h, { memoryBytes: undefined, deadlineMs: 1000 });
  t.is(await life.stopSession('s7'), 1);
  t.deepEqual(stopped, ['p7']);
  t.false(h.table.hosts('p7'));
  t.is(specReads(), 0, 'no spec read per hosted instance');
  t.is(scans(), 0, 'no scan of every address');
});
