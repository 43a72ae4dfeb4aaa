import test from 'ava';
import { Redis } from 'ioredis';
import { ArgumentError, Codes, WeftError } from '../../runtime/index.ts';
import type { RegistryChange as Change } from '../../headend/registry/registry.ts';
import { RedisRegistry } from '../../headend/registry/registry-redis.ts';
import { nextChange } from '../_contracts/registry.ts';
import { serverRegistryContracts } from '../_contracts/registry-server.ts';
import { needProgram, which } from '../_helpers/env.ts';
import { type RedisServer, startRedis } from '../_helpers/redis.ts';

const program = which('redis-server');

if (program === undefined) {
  test('redis registry', (t) => void needProgram(t, 'redis-server', 'the Redis registry adapter'));
} else {
  let server: RedisServer | undefined;
  let n = 0;
  test.before(async () => {
    server = await startRedis(program);
  });
  test.after.always(async () => {
    await server?.stop();
  });
  const url = (): string => {
    if (server === undefined) throw new Error('redis-server did not start');
    return server.url;
  };

  serverRegistryContracts(
    'redis',
    (prefix, clock) => RedisRegistry.open({ url: url(), prefix, clock }),
    async (prefix, session, raw) => {
      const c = new Redis(url());
      await c.hset(`${prefix}session:${session}`, 'switchId', String(raw)).finally(() => c.quit());
    },
  );

  test('redis: registries with different prefixes do not see each other', async (t) => {
    const a = await RedisRegistry.open({ url: url(), prefix: 'pa:' });
    const b = await RedisRegistry.open({ url: url(), prefix: 'pb:' });
    try {
      await a.bind('weft://guide/s1/search', { node: 'n' });
      t.is(await b.lookup('weft://guide/s1/search'), undefined);
      t.true((await b.bind('weft://guide/s1/search', { node: 'm' })).ok);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('redis: a resubscribe after a dropped connection tells watchers to reset', async (t) => {
    const r = await RedisRegistry.open({ url: url(), prefix: `reset${++n}:` });
    const killer = new Redis(url());
    try {
      const reset = nextChange(r, (c: Change) => c.kind === 'reset');
      // Kill the subscriber connection from the server side; ioredis reconnects and resubscribes.
      const clients = (await killer.client('LIST')) as string;
      // Only this registry's subscriber: other tests share the server.
      const subs = clients.split('\n').filter((l) => l.includes(` name=weft-registry-sub:${r.prefix} `));
      t.is(subs.length, 1, 'found the subscriber connection by its name');
      for (const line of subs) {
        const id = /id=(\d+)/.exec(line)?.[1];
        if (id !== undefined) await killer.client('KILL', 'ID', id);
      }
      t.deepEqual(await reset, { kind: 'reset' } satisfies Change);
      // Still works afterwards, and changes from others arrive again.
      const other = await RedisRegistry.open({ url: url(), prefix: r.prefix });
      const heard = nextChange(r, (c: Change) => c.kind === 'location');
      await other.bind('weft://guide/s9/search', { node: 'n' });
      t.is((await heard).kind, 'location');
      await other.close();
    } finally {
      killer.disconnect();
      await r.close();
    }
  });

  test('redis: a server that is not there is refused with UNAVAILABLE; options are checked', async (t) => {
    const err = await t.throwsAsync(RedisRegistry.open({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 500 }));
    t.true(err instanceof WeftError && err.code === Codes.UNAVAILABLE);
    await t.throwsAsync(RedisRegistry.open({ url: url(), db: 2 } as never), { instanceOf: ArgumentError, message: /"db"/ });
    await t.throwsAsync(RedisRegistry.open({ url: 'http://x' }), { message: /redis:\/\// });
    await t.throwsAsync(RedisRegistry.open({ url: url(), prefix: 'a b' }), { message: /prefix/ });
  });
}
