// The `weft` host API: send/request between modules through runtime Channels on a LocalBus,
// timeouts, handlers, storage with its per-app quota, device info, ui scenes and remote keys,
// head-end services, and capabilities present only when the manifest declares them.
import test from 'ava';
import { Codes } from '../../runtime/index.ts';
import { loadEngine, type ModuleSandbox, SandboxError } from '../../sandbox/index.ts';
import { Apps, one, verified } from './_harness.ts';
import { Net, settle } from './_net.ts';

const engine = await loadEngine();
const from = { queue: 'tester' };

test('send and request travel between modules through runtime Channels', async (t) => {
  const apps = new Apps(engine);
  const net = new Net(apps.clock);
  const app = apps.make({ session: 's1' });
  const mods = await verified('test', [
    {
      name: 'counter',
      source: `let total = 0; const seen = [];
        weft.on('message', (b, from) => { total += b.add; seen.push(from.vaddr); });
        weft.on('request', (b) => b.op === 'total' ? { total, seen } : Promise.resolve({ doubled: b.n * 2 }));`,
    },
    {
      name: 'caller',
      source: `weft.on('request', async (b) => {
          weft.send(weft.address('counter'), { add: b.n });
          weft.send({ vaddr: weft.address('counter') }, { add: 1 });
          const d = await weft.request(weft.address('counter'), { n: b.n });
          return { self: weft.self, d };
        });`,
    },
  ]);
  const at: { counter?: ModuleSandbox; caller?: ModuleSandbox } = {};
  const c1 = app.load(mods.get('counter')!, { link: net.attach('weft://test/s1/counter', () => at.counter) });
  const c2 = app.load(mods.get('caller')!, { link: net.attach('weft://test/s1/caller', () => at.caller) });
  if (!c1.ok || !c2.ok) return t.fail();
  const counter = (at.counter = c1.value);
  const caller = (at.caller = c2.value);
  t.is(counter.address, 'weft://test/s1/counter');
  counter.start();
  caller.start();
  t.deepEqual(await caller.serve({ n: 20 }, from), { self: 'weft://test/s1/caller', d: { doubled: 40 } });
  await settle();
  t.deepEqual(await counter.serve({ op: 'total' }, from), { total: 21, seen: ['weft://test/s1/caller', 'weft://test/s1/caller'] });
  net.close();
  apps.finish(t);
});

test('a request that gets no answer rejects in the guest with the wire code', async (t) => {
  const apps = new Apps(engine);
  const net = new Net(apps.clock);
  const app = apps.make({ session: 's1' });
  const at: { m?: ModuleSandbox } = {};
  const r = app.load(
    await one(`weft.on('request', async () => {
      try { await weft.request('weft://test/s1/nobody', {}, { timeout: 50 }); return 'answered'; }
      catch (e) { return { name: e.name, code: e.code }; }
    });`),
    { link: net.attach('weft://test/s1/m', () => at.m) },
  );
  if (!r.ok) return t.fail();
  const m = (at.m = r.value);
  m.start();
  const reply = m.serve(null, from);
  await settle();
  apps.clock.advance(60);
  t.deepEqual(await reply, { name: 'AddressError', code: Codes.ADDRESS });
  // The channel's own deadline: a queue that exists but never answers.
  net.bus.open('weft://test/s1/silent');
  const m2 = app.load(
    await one(`weft.on('request', () => weft.request('weft://test/s1/silent', {}, { timeout: 50 }).then(() => 'answered', (e) => e.code));`, { name: 'm2' }),
    { link: net.attach('weft://test/s1/m2', () => undefined) },
  );
  if (!m2.ok) return t.fail();
  m2.value.start();
  const r2 = m2.value.serve(null, from);
  await settle();
  apps.clock.advance(60);
  await settle();
  t.is(await r2, Codes.TIMEOUT);
  net.close();
  apps.finish(t);
});

test('bad arguments are catchable guest errors, not faults', async (t) => {
  const apps = new Apps(engine);
  const app = apps.make();
  const m = app.load(
    await one(`const out = [];
      const attempt = (f) => { try { f(); out.push('ok'); } catch (e) { out.push(e.name + ': ' + e.message); } };
      attempt(() => weft.on('nonsense', () => {}));
      attempt(() => weft.on('message', 42));
      attempt(() => weft.send('http://example.com/', {}));
      attempt(() => weft.send({ vaddr: 'weft://test/s/x', port: 1 }, {}));
      attempt(() => weft.send('weft://test/s/x', { f: 1n }));
      attempt(() => weft.request('weft://test/s/x', {}, { timeout: 5, retries: 2 }));
      attempt(() => weft.setTimeout('code string', 10));
      weft.on('request', () => out);`),
  );
  if (!m.ok) return t.fail(m.error.message);
  m.value.start();
  const out = (await m.value.serve(null, from)) as string[];
  t.regex(out[0]!, /^TypeError: .*unknown event "nonsense"/);
  t.regex(out[1]!, /^TypeError: .*handler a function/);
  t.regex(out[2]!, /^TypeError: .*must start with weft:\/\//);
  t.regex(out[3]!, /^TypeError: .*unknown address field "port"/);
  t.regex(out[4]!, /^TypeError: .*not JSON data/);
  t.regex(out[5]!, /^TypeError: .*unknown option "retries"/);
  t.regex(out[6]!, /^TypeError: .*fn must be a function/);
  t.is(m.value.state, 'started');
  apps.finish(t);
});

test('storage: per-app, shared by its modules, with a quota the guest can catch', async (t) => {
  const apps = new Apps(engine);
  const app = apps.make({ limits: { storageQuota: 400 } });
  const mods = await verified('test', [
    {
      name: 'writer',
      uses: ['storage'],
      source: `weft.on('request', (b) => {
        if (b.op === 'fill') { let i = 0; try { for (;; i++) weft.storage.set('k' + i, 'xxxxxxxxxx'); } catch (e) { return { i, name: e.name }; } }
        if (b.op === 'set') { weft.storage.set(b.key, b.value); return weft.storage.keys(); }
        if (b.op === 'delete') { weft.storage.delete(b.key); return weft.storage.keys().length; }
      });`,
    },
    { name: 'reader', uses: ['storage'], source: `weft.on('request', (b) => weft.storage.get(b.key) ?? null);` },
    { name: 'nostore', source: `weft.on('request', () => typeof weft.storage);` },
  ]);
  const [w, r, n] = ['writer', 'reader', 'nostore'].map((x) => {
    const l = app.load(mods.get(x)!);
    if (!l.ok) throw l.error;
    l.value.start();
    return l.value;
  }) as [ModuleSandbox, ModuleSandbox, ModuleSandbox];
  t.deepEqual(await w.serve({ op: 'set', key: 'profile', value: { lang: 'fr', fav: [3, 7] } }, from), ['profile']);
  t.deepEqual(await r.serve({ key: 'profile' }, from), { lang: 'fr', fav: [3, 7] });
  const filled = (await w.serve({ op: 'fill' }, from)) as { i: number; name: string };
  t.is(filled.name, 'QuotaError');
  t.true(filled.i > 0 && app.storage.used <= 400, `used ${app.storage.used}`);
  t.is(await w.serve({ op: 'delete', key: 'k0' }, from), filled.i);
  t.is(await n.serve(null, from), 'undefined', 'no storage without the capability');
  apps.finish(t);
});

test('device.info, ui.show and remote-control keys', async (t) => {
  const apps = new Apps(engine);
  const scenes: [unknown, string][] = [];
  const app = apps.make({ device: { model: 'stb-7', memory: 8 << 20 }, ui: (scene, module) => scenes.push([scene, module]) });
  const mods = await verified('test', [
    {
      name: 'screen',
      uses: ['ui', 'device'],
      source: `let focus = 0;
        weft.on('start', () => weft.ui.show({ title: weft.device.info().model, focus }));
        weft.on('key', (k) => { if (k === 'down') focus++; weft.ui.show({ focus, key: k }); });`,
    },
    { name: 'blind', source: `let keys = 0; weft.on('key', () => keys++); weft.on('request', () => [keys, typeof weft.ui, typeof weft.device]);` },
  ]);
  const s = app.load(mods.get('screen')!);
  const b = app.load(mods.get('blind')!);
  if (!s.ok || !b.ok) return t.fail();
  s.value.start();
  b.value.start();
  app.pressKey('down');
  app.pressKey('ok');
  t.deepEqual(scenes, [
    [{ title: 'stb-7', focus: 0 }, 'screen'],
    [{ focus: 1, key: 'down' }, 'screen'],
    [{ focus: 1, key: 'ok' }, 'screen'],
  ]);
  t.deepEqual(await b.value.serve(null, from), [0, 'undefined', 'undefined'], 'keys and ui only with the ui capability');
  apps.finish(t);
});

test('[c7] services on the head-end: declared ones only, and absent on a box', async (t) => {
  const apps = new Apps(engine);
  const calls: unknown[] = [];
  const headend = apps.make({
    side: 'headend',
    services: {
      epg: (body) => {
        calls.push(body);
        return [{ title: 'News', channel: 1 }];
      },
      billing: () => 'secret',
    },
  });
  const r = headend.load(
    await one(
      `weft.on('request', async (b) => {
        const rows = await weft.services.request('epg', { day: b.day });
        let denied; try { weft.services.request('billing', {}); } catch (e) { denied = e.name; }
        return { rows, denied };
      });`,
      { kind: 'peer', uses: ['services.epg'] },
    ),
  );
  if (!r.ok) return t.fail(r.error.message);
  r.value.start();
  t.deepEqual(await r.value.serve({ day: 3 }, from), { rows: [{ title: 'News', channel: 1 }], denied: 'TypeError' });
  t.deepEqual(calls, [{ day: 3 }]);
  const box = apps.make({ side: 'box' });
  const m = box.load(await one(`weft.on('request', () => typeof weft.services);`, { kind: 'mutable' }));
  if (!m.ok) return t.fail();
  m.value.start();
  t.is(await m.value.serve(null, from), 'undefined');
  apps.finish(t);
});

test('[c7] a service handler is given the call\'s deadline: the guest\'s timeout, else replyTimeoutMs', async (t) => {
  // The head-end's handler forwards the call over a Channel; without the deadline it used the
  // Channel's 5 s default, cutting a guest that allowed 30 s (cluster-processes under load).
  const apps = new Apps(engine);
  const deadlines: unknown[] = [];
  const headend = apps.make({ side: 'headend', services: { epg: (_body, timeoutMs) => (deadlines.push(timeoutMs), 'rows') } });
  const r = headend.load(
    await one(
      `weft.on('request', async () => [await weft.services.request('epg', {}, { timeout: 12000 }), await weft.services.request('epg', {})]);`,
      { kind: 'peer', uses: ['services.epg'] },
    ),
  );
  if (!r.ok) return t.fail(r.error.message);
  r.value.start();
  t.deepEqual(await r.value.serve(null, from), ['rows', 'rows']);
  t.deepEqual(deadlines, [12000, 30000]);
  apps.finish(t);
});

test('a request to a module without a request handler is refused, and the module keeps running', async (t) => {
  const apps = new Apps(engine);
  const app = apps.make();
  const m = app.load(await one(`weft.on('message', () => {});`));
  if (!m.ok) return t.fail();
  m.value.start();
  const err = await t.throwsAsync(m.value.serve({}, from), { instanceOf: SandboxError });
  t.is(err?.fault, 'no-handler');
  t.is(err?.code, Codes.SANDBOX);
  t.is(m.value.state, 'started');
  apps.finish(t);
});
