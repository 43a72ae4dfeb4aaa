// The per-box ACL as a pure policy (and as a mosquitto ACL file), and the credential stores that
// establish who is a box and who is a head-end node.

import test from 'ava';
import fc from 'fast-check';
import { type Identity, mosquittoAclFile, weftAcl } from '../../headend/broker/broker-acl.ts';
import { derivedBoxSecret, derivedCredentials, staticCredentials } from '../../headend/broker/broker-auth.ts';
import { TopicScheme } from '../../transport/mqtt-topics.ts';

const acl = weftAcl(new TopicScheme());
const boxA: Identity = { role: 'box', id: 'box-a' };
const node: Identity = { role: 'headend', id: 'node-1' };

test('a box publishes only on its own ingress topics', (t) => {
  t.true(acl.mayPublish(boxA, 'weft/up/box-a/guide/s1/search'));
  for (const topic of ['weft/up/box-b/guide/s1/search', 'weft/up/box-a', 'weft/up/box-a/', 'weft/up/box-ab/x/y/z', 'weft/box/box-a/x/y/z', 'weft/box/box-b/x/y/z', '$SYS/x', 'other/up/box-a/x/y/z']) {
    t.false(acl.mayPublish(boxA, topic), topic);
  }
});

test('a box subscribes to and reads only its own inbox', (t) => {
  for (const f of ['weft/box/box-a/#', 'weft/box/box-a/guide/+/ui']) t.true(acl.maySubscribe(boxA, f), f);
  for (const f of ['#', '+/#', 'weft/#', 'weft/box/#', 'weft/box/+/#', 'weft/box/box-b/#', 'weft/box/box-a', 'weft/up/#', 'weft/up/box-a/#', '$share/g/weft/box/box-a/#', '$SYS/#']) {
    t.false(acl.maySubscribe(boxA, f), f);
  }
  t.true(acl.mayRead(boxA, 'weft/box/box-a/box/box-a/inbox'));
  t.false(acl.mayRead(boxA, 'weft/box/box-b/box/box-b/inbox'));
  t.false(acl.mayRead(boxA, 'weft/up/box-a/x/y/z'));
});

test('a head-end node reads the ingress (shared or not) and writes only inboxes', (t) => {
  for (const f of ['weft/up/+/#', 'weft/up/box-a/#', '$share/nodes/weft/up/+/#']) t.true(acl.maySubscribe(node, f), f);
  for (const f of ['#', 'weft/#', 'weft/box/+/#', '$share/nodes', '$share/nodes/#', '$SYS/#']) t.false(acl.maySubscribe(node, f), f);
  t.true(acl.mayPublish(node, 'weft/box/box-a/guide/s1/ui'));
  t.false(acl.mayPublish(node, 'weft/up/box-a/guide/s1/ui'));
  t.false(acl.mayPublish(node, '$SYS/broker'));
  t.true(acl.mayRead(node, 'weft/up/box-a/x/y/z'));
  t.false(acl.mayRead(node, 'weft/box/box-a/x/y/z'));
});

test('property: no box may publish, subscribe or read anything under another box id', (t) => {
  const id = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,8}$/);
  const rest = fc.array(fc.stringMatching(/^[A-Za-z0-9_+#*.-]{1,6}$/), { minLength: 1, maxLength: 4 }).map((a) => a.join('/'));
  fc.assert(
    fc.property(id, id, rest, fc.constantFrom('up', 'box'), (me, other, tail, dir) => {
      if (me === other) return true;
      const who: Identity = { role: 'box', id: me };
      const topic = `weft/${dir}/${other}/${tail}`;
      return !acl.mayPublish(who, topic) && !acl.maySubscribe(who, topic) && !acl.mayRead(who, topic);
    }),
  );
  t.pass();
});

test('the mosquitto ACL file states the same rules', (t) => {
  const text = mosquittoAclFile(new TopicScheme(), ['node-1', 'node-2']);
  t.regex(text, /^pattern write weft\/up\/%u\/#$/m);
  t.regex(text, /^pattern read weft\/box\/%u\/#$/m);
  t.regex(text, /^user node-2@headend\ntopic read weft\/up\/#\ntopic write weft\/box\/#$/m);
  t.notRegex(text, /readwrite|topic (read|write) #|weft\/#/);
  t.notRegex(text, /^user node-1$/m, 'node users live in their own namespace');
  t.throws(() => mosquittoAclFile(new TopicScheme(), ['node-1@headend']), { message: /bad node id/ });
  t.false(acl.mayPublish({ role: 'box', id: 'node-1@headend' }, 'weft/up/node-1@headend/x/y/z'), 'no box identity outside the box id space');
});

test('static credentials: right password gives the identity, anything else nothing', (t) => {
  const c = staticCredentials([
    { id: 'box-a', role: 'box', password: 'pa' },
    { id: 'node-1', role: 'headend', password: 'pn' },
  ]);
  t.deepEqual(c.verify('box-a', Buffer.from('pa')), { role: 'box', id: 'box-a' });
  t.deepEqual(c.verify('node-1@headend', 'pn'), { role: 'headend', id: 'node-1' });
  t.is(c.verify('node-1', 'pn'), undefined, 'a node logs in only as <id>@headend');
  t.is(c.verify('box-a', 'pn'), undefined);
  t.is(c.verify('box-a', undefined), undefined);
  t.is(c.verify('mallory', 'pa'), undefined);
  t.throws(() => staticCredentials([{ id: 'a/b', role: 'box', password: 'x' }]));
});

test('derived credentials: a box proves HMAC(master, id); head-end nodes come from their table', (t) => {
  const key = 'master-key-of-the-plant';
  const c = derivedCredentials(key, [{ id: 'node-1', password: 'pn' }]);
  t.deepEqual(c.verify('box-123', derivedBoxSecret(key, 'box-123')), { role: 'box', id: 'box-123' });
  t.is(c.verify('box-124', derivedBoxSecret(key, 'box-123')), undefined);
  t.is(c.verify('box-123', derivedBoxSecret('another-master-key!', 'box-123')), undefined);
  t.deepEqual(c.verify('node-1@headend', 'pn'), { role: 'headend', id: 'node-1' });
  t.is(c.verify('node-1@headend', derivedBoxSecret(key, 'node-1')), undefined, 'a box secret never proves a node');
  t.deepEqual(c.verify('node-1', derivedBoxSecret(key, 'node-1')), { role: 'box', id: 'node-1' }, 'a box called node-1 is a box, never the node');
  t.is(c.verify('x@headend@headend', 'pn'), undefined);
  t.is(c.verify('a/#', 'x'), undefined);
  t.throws(() => derivedCredentials('short', []));
});
