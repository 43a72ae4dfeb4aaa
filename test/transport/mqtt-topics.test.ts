// The MQTT topic scheme: topics derived from virtual addresses, parsed back, and nothing that
// could widen a topic (wildcards, empty levels, a foreign box id) ever produced.

import test from 'ava';
import fc from 'fast-check';
import { AddressError, formatVaddr } from '../../runtime/index.ts';
import { TopicScheme, boxAddress, boxOf, headendAddress, isEndpointId } from '../../transport/mqtt-topics.ts';

const topics = new TopicScheme();

test('topics are the prefix, the direction, the box and the vaddr path', (t) => {
  t.is(topics.up('box-7', 'weft://guide/s1/search'), 'weft/up/box-7/guide/s1/search');
  t.is(topics.down('box-7', 'weft://guide/s1/ui/2'), 'weft/box/box-7/guide/s1/ui/2');
  t.is(topics.down('box-7', 'weft://guide/*/epg'), 'weft/box/box-7/guide/*/epg');
  t.is(topics.upFilter(), 'weft/up/+/#');
  t.is(topics.upFilter('box-7'), 'weft/up/box-7/#');
  t.is(topics.downFilter('box-7'), 'weft/box/box-7/#');
  t.is(topics.sharedUpFilter('nodes'), '$share/nodes/weft/up/+/#');
  t.is(new TopicScheme('plant-2/weft').up('b', 'weft://a/s/m'), 'plant-2/weft/up/b/a/s/m');
});

test('parse inverts the scheme and refuses anything else', (t) => {
  t.deepEqual(topics.parse('weft/up/box-7/guide/s1/search'), { dir: 'up', boxId: 'box-7', path: 'guide/s1/search' });
  t.deepEqual(topics.parse('weft/box/b/box/b/inbox'), { dir: 'box', boxId: 'b', path: 'box/b/inbox' });
  for (const bad of ['weft/up/box-7', 'weft/side/b/a/s/m', 'other/up/b/a/s/m', 'weft/up/$x/a/s/m', 'weft/up/+/a', '']) {
    t.is(topics.parse(bad), undefined, bad);
  }
  t.is(TopicScheme.vaddrOf('guide/s1/search'), 'weft://guide/s1/search');
  t.is(TopicScheme.vaddrOf('guide/s1'), undefined);
  t.is(TopicScheme.vaddrOf('Guide/s1/x'), undefined);
});

test('box and head-end endpoint addresses, and which box a vaddr names', (t) => {
  t.deepEqual(boxAddress('box-7'), { vaddr: 'weft://box/box-7/inbox' });
  t.deepEqual(boxAddress('box-7', 'loader'), { vaddr: 'weft://box/box-7/loader' });
  t.deepEqual(headendAddress('node-1'), { vaddr: 'weft://headend/node-1/ingress' });
  t.is(boxOf('weft://box/box-7/inbox'), 'box-7');
  t.is(boxOf('weft://guide/s1/search'), undefined);
  t.is(boxOf('weft://boxes/x/y'), undefined);
  t.throws(() => boxAddress('a/b'), { instanceOf: AddressError });
  t.throws(() => boxAddress('#'), { instanceOf: AddressError });
  t.throws(() => boxAddress('$SYS'), { instanceOf: AddressError });
});

test('ids, prefixes and vaddrs that could widen a topic are refused', (t) => {
  for (const id of ['', '+', '#', 'a/b', '$x', 'a b', 'x'.repeat(65)]) {
    t.false(isEndpointId(id), id);
    t.throws(() => topics.up(id, 'weft://a/s/m'), { instanceOf: AddressError });
  }
  for (const p of ['', '#', 'a/+', '$SYS', 'a//b', '/a', 'a/b/c/d/e']) t.throws(() => new TopicScheme(p), { instanceOf: AddressError }, p);
  for (const v of ['weft://a/+/m', 'weft://a/s/#', 'weft://a/s', 'mqtt://a/s/m', 'weft://a//m']) {
    t.throws(() => topics.up('b', v), { instanceOf: AddressError }, v);
  }
});

test('property: every valid vaddr maps to a wildcard-free topic that parses back to it', (t) => {
  const seg = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}$/);
  const app = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,10}$/);
  const id = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
  fc.assert(
    fc.property(app, fc.oneof(seg, fc.constant('*')), seg, fc.option(seg, { nil: undefined }), id, (a, s, m, i, box) => {
      const vaddr = formatVaddr(i === undefined ? { app: a, session: s, module: m } : { app: a, session: s, module: m, instance: i });
      for (const topic of [topics.up(box, vaddr), topics.down(box, vaddr)]) {
        if (topic.includes('+') || topic.includes('#') || topic.includes('//')) return false;
        const p = topics.parse(topic);
        if (p === undefined || p.boxId !== box || TopicScheme.vaddrOf(p.path) !== vaddr) return false;
      }
      return true;
    }),
  );
  t.pass();
});
