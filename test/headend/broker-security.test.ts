// Per-box security on both brokers: a box with valid credentials of its own can neither read nor
// forge another box's traffic, nor take its session. Each broker is also probed with a loosened
// ACL, which must show leaks: the same probe would fail if the real ACL were loosened.

import test from 'ava';
import { which, needProgram } from '../_helpers/env.ts';
import { aedesBroker, mosquittoBroker, USERS } from '../_helpers/mqtt-fixtures.ts';
import { probe } from '../_helpers/mqtt-security.ts';
import type { AclPolicy } from '../../headend/broker/broker-acl.ts';
import { openRawClient } from '../../transport/mqtt.ts';

const OPEN_ACL: AclPolicy = { mayPublish: () => true, maySubscribe: () => true, mayRead: () => true };

test('aedes: a box cannot read, forge or take over another box', async (t) => {
  const b = await aedesBroker();
  try {
    const leaks = await probe(b.url);
    t.deepEqual(leaks, { read: [], forgedIngress: 0, forgedInbox: 0, granted: [], victimDropped: false });
    const s = b.aedes!.stats();
    t.true(s.forbiddenSubscribe >= 4, `refused subscriptions: ${s.forbiddenSubscribe}`); // counted, not silent
    t.true(s.forbiddenPublish >= 2, `refused publishes: ${s.forbiddenPublish}`);
    t.is(s.idMismatch, 1);
  } finally {
    await b.close();
  }
});

test('aedes: with the ACL loosened, the same probe sees the leaks', async (t) => {
  const b = await aedesBroker({ acl: OPEN_ACL });
  try {
    const leaks = await probe(b.url);
    t.true(leaks.read.some((topic) => topic.startsWith('weft/box/box-b/')), `read: ${leaks.read.join(', ')}`);
    t.true(leaks.read.some((topic) => topic.startsWith('weft/up/box-b/')));
    t.is(leaks.forgedIngress, 1);
    t.is(leaks.forgedInbox, 1);
    t.true(leaks.granted.length >= 4);
  } finally {
    await b.close();
  }
});

test('aedes: wrong password and unknown users are refused and counted', async (t) => {
  const b = await aedesBroker();
  try {
    await t.throwsAsync(openRawClient(b.url, { username: 'box-b', clientId: 'box-b', password: 'box-a-secret' }), { message: /Bad username or password/i });
    await t.throwsAsync(openRawClient(b.url, { username: 'mallory', clientId: 'mallory', password: 'x' }), { message: /Bad username or password/i });
    await t.throwsAsync(openRawClient(b.url, { clientId: 'anon' }), { message: /Bad username or password/i });
    t.is(b.aedes!.stats().authFailed, 3);
  } finally {
    await b.close();
  }
});

const mosquitto = which('mosquitto');

test('mosquitto: a box cannot read, forge or take over another box', async (t) => {
  if (needProgram(t, 'mosquitto', 'per-box security on the real broker') === undefined) return;
  const b = await mosquittoBroker(mosquitto as string, { debugLog: true });
  try {
    const leaks = await probe(b.url);
    // Mosquitto grants wildcard subscriptions but checks read access per message at delivery:
    // what matters is that nothing of box-b's traffic reached the attacker.
    t.deepEqual({ ...leaks, granted: [] }, { read: [], forgedIngress: 0, forgedInbox: 0, granted: [], victimDropped: false });
    const log = b.mosquitto!.log();
    t.regex(log, /Denied PUBLISH from box-a .*'weft\/up\/box-b\//); // each refusal is logged by the broker
    t.regex(log, /Denied PUBLISH from box-a .*'weft\/box\/box-b\//);
  } finally {
    await b.close();
  }
});

test('mosquitto: with the ACL loosened, the same probe sees the leaks', async (t) => {
  if (needProgram(t, 'mosquitto', 'per-box security on the real broker') === undefined) return;
  const heads = USERS.filter((u) => u.role === 'headend').map((u) => `user ${u.id}\ntopic readwrite weft/#\n`);
  const b = await mosquittoBroker(mosquitto as string, { aclText: `pattern readwrite weft/#\n\n${heads.join('\n')}` });
  try {
    const leaks = await probe(b.url);
    t.true(leaks.read.some((topic) => topic.startsWith('weft/box/box-b/')), `read: ${leaks.read.join(', ')}`);
    t.is(leaks.forgedIngress, 1);
    t.is(leaks.forgedInbox, 1);
  } finally {
    await b.close();
  }
});
