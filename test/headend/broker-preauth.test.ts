// The pre-authentication guard's accounting: caps on unauthenticated connections and on the
// bytes they hold, a CONNECT refused from its header, everything returned on release.

import test from 'ava';
import fc from 'fast-check';
import { PreauthGuard, type PreauthTicket, preauthLimits } from '../../headend/broker/broker-preauth.ts';
import { mqttFixedHeader } from '../_helpers/mqtt-fixtures.ts';


const limits = { maxConnectBytes: 1000, maxBytes: 2500, maxConnections: 3 };

test('connections beyond the cap are refused; release frees a slot, once', (t) => {
  const g = new PreauthGuard(limits);
  const a = g.admit();
  const b = g.admit();
  const c = g.admit();
  t.truthy(a && b && c);
  t.is(g.admit(), undefined);
  t.is(g.heldConnections, 3);
  g.release(a as PreauthTicket);
  g.release(a as PreauthTicket);
  t.is(g.heldConnections, 2);
  t.truthy(g.admit());
  t.is(g.admit(), undefined);
});

test('a CONNECT declaring more than the limit is refused from its header, before its body', (t) => {
  const g = new PreauthGuard(limits);
  const big = mqttFixedHeader(0x10, 1 << 20);
  t.is(g.feed(g.admit() as PreauthTicket, big.subarray(0, 4)), 'connectTooLarge');
  const fits = g.admit() as PreauthTicket;
  t.is(g.feed(fits, mqttFixedHeader(0x10, 900)), undefined);
  t.is(g.feed(fits, new Uint8Array(900)), undefined);
  t.is(g.feed(fits, new Uint8Array(200)), 'connectTooLarge', 'nor more bytes than the limit in all');
  t.is(g.feed(g.admit() as PreauthTicket, mqttFixedHeader(0x30, 10)), 'notConnect');
  t.is(g.feed(new PreauthGuard(limits).admit() as PreauthTicket, Uint8Array.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01])), 'connectTooLarge');
});

test('bytes held by all unauthenticated connections are capped and returned on release', (t) => {
  const g = new PreauthGuard(limits);
  const [a, b, c] = [g.admit(), g.admit(), g.admit()] as PreauthTicket[];
  for (const x of [a, b]) t.is(g.feed(x as PreauthTicket, Uint8Array.from([...mqttFixedHeader(0x10, 995), ...new Uint8Array(995)])), undefined);
  t.is(g.heldBytes, 1996);
  t.is(g.feed(c as PreauthTicket, Uint8Array.from([...mqttFixedHeader(0x10, 600), ...new Uint8Array(600)])), 'preauthBytes');
  t.is(g.heldBytes, 1996, 'a refused chunk is not kept');
  g.release(a as PreauthTicket);
  t.is(g.heldBytes, 998);
  t.is(g.feed(a as PreauthTicket, new Uint8Array(5000)), undefined, 'an authenticated connection is no longer counted');
  t.is(g.heldBytes, 998);
  g.release(b as PreauthTicket);
  g.release(c as PreauthTicket);
  t.deepEqual([g.heldBytes, g.heldConnections], [0, 0]);
});

test('property: whatever strangers send, the caps hold and release returns everything', (t) => {
  const op = fc.oneof(
    fc.record({ k: fc.constant('admit' as const) }),
    fc.record({ k: fc.constant('feed' as const), i: fc.nat(9), len: fc.integer({ min: 1, max: 1500 }), connect: fc.boolean() }),
    fc.record({ k: fc.constant('release' as const), i: fc.nat(9) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const g = new PreauthGuard(limits);
      const live: PreauthTicket[] = [];
      for (const o of ops) {
        if (o.k === 'admit') {
          const x = g.admit();
          if (x !== undefined) live.push(x);
        } else if (live.length > 0) {
          const x = live[o.i % live.length] as PreauthTicket;
          if (o.k === 'release') g.release(x);
          else if (g.feed(x, o.connect && x.bytes === 0 ? mqttFixedHeader(0x10, o.len) : new Uint8Array(o.len)) !== undefined) g.release(x);
        }
        if (g.heldBytes > limits.maxBytes || g.heldConnections > limits.maxConnections) return false;
        if (live.some((x) => x.bytes > limits.maxConnectBytes)) return false;
      }
      for (const x of live) g.release(x);
      return g.heldBytes === 0 && g.heldConnections === 0;
    }),
  );
  t.pass();
});

test('limits: defaults, validation, unknown names refused', (t) => {
  t.deepEqual(preauthLimits('x', undefined), { maxConnectBytes: 4096, maxBytes: 1 << 20, maxConnections: 1024 });
  t.throws(() => preauthLimits('x', { maxBytes: 0 }), { message: /maxBytes/ });
  t.throws(() => preauthLimits('x', { maxConnect: 5 } as never), { message: /maxConnect/ });
});
