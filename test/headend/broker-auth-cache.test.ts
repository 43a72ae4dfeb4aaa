// [issue 19.6, D90] A box that logged in before is checked against its kept derived secret: in a
// reconnect storm every box logs in again, and the HMAC per login was 2% of the node's loop.
// What must hold: a kept secret is reused (counted), a wrong password is refused with or
// without one, strangers (failed logins) keep nothing, and what is kept is bounded.
import test from 'ava';
import { derivedBoxSecret, derivedCredentials } from '../../headend/broker/broker-auth.ts';

const KEY = 'a-box-master-key-of-enough-length';

test('a box that logged in is checked against its kept secret; a wrong password is refused all the same', (t) => {
  const store = derivedCredentials(KEY, []);
  const secret = derivedBoxSecret(KEY, 'box-1');
  for (let i = 0; i < 100; i++) t.deepEqual(store.verify('box-1', i % 2 === 0 ? secret : Buffer.from(secret)), { role: 'box', id: 'box-1' });
  t.deepEqual(store.stats(), { derived: 1, reused: 99, kept: 1 });
  t.is(store.verify('box-1', 'wrong'), undefined);
  t.is(store.verify('box-1', `${secret.slice(0, -1)}A`), undefined, 'same length, one character off');
  t.is(store.verify('box-1', undefined), undefined);
  t.is(store.verify('box-2', secret), undefined, "another box's secret");
  t.is(store.stats().derived, 2, 'only box-2 was derived');
});

test('failed logins keep nothing; what is kept is bounded, least recently used out first', (t) => {
  const store = derivedCredentials(KEY, [], 3);
  for (let i = 0; i < 50; i++) t.is(store.verify(`stranger-${i}`, 'guess'), undefined);
  t.deepEqual(store.stats(), { derived: 50, reused: 0, kept: 0 });
  for (const id of ['b-1', 'b-2', 'b-3']) store.verify(id, derivedBoxSecret(KEY, id));
  store.verify('b-1', derivedBoxSecret(KEY, 'b-1')); // b-1 is now the most recent
  store.verify('b-4', derivedBoxSecret(KEY, 'b-4')); // so b-2 goes
  t.is(store.stats().kept, 3);
  const before = store.stats().derived;
  store.verify('b-1', derivedBoxSecret(KEY, 'b-1'));
  t.is(store.stats().derived, before, 'b-1 kept');
  store.verify('b-2', derivedBoxSecret(KEY, 'b-2'));
  t.is(store.stats().derived, before + 1, 'b-2 derived again');
  t.throws(() => derivedCredentials(KEY, [], -1));
});

test('cacheSize 0 keeps nothing: every login derives, as before', (t) => {
  const store = derivedCredentials(KEY, [], 0);
  for (let i = 0; i < 3; i++) t.truthy(store.verify('box-1', derivedBoxSecret(KEY, 'box-1')));
  t.deepEqual(store.stats(), { derived: 3, reused: 0, kept: 0 });
});
