// docs/SECURITY.md row "MQTT ingress stamps identity": the head-end's MQTT ingress writes the
// broker-authenticated box id (the topic's box, which the broker ACL binds to the login) into
// every envelope as ext.by, overwriting whatever the box sent (issue 12 finding 2).

import test from 'ava';
import { EnvelopeCodec, type Envelope } from '../../runtime/index.ts';
import { resolveMqttOptions } from '../../transport/mqtt-options.ts';
import { MqttRouting } from '../../transport/mqtt-routing.ts';

function ingress(): { routing: MqttRouting; codec: EnvelopeCodec } {
  const codec = new EnvelopeCodec();
  const routing = new MqttRouting(resolveMqttOptions({ role: 'headend', url: 'mqtt://127.0.0.1:1883', id: 'n1', log: () => {} }), codec);
  return { routing, codec };
}

function fromBox(box: string, ext?: Envelope['ext']): Envelope {
  const env: Envelope = { v: 1, kind: 'req', id: 7, op: 'session.open', src: { vaddr: `weft://box/${box}/inbox` }, dst: { vaddr: 'weft://headend/*/sessions' }, body: { boxId: 'box-b' } };
  if (ext !== undefined) env.ext = ext;
  return env;
}

test('every envelope from a box carries the authenticated box id, whatever the box claimed', (t) => {
  const { routing, codec } = ingress();
  const forged = routing.accept('weft/up/box-a/headend/*/sessions', codec.encode(fromBox('box-a', { by: 'box:box-b', tp: '00-abc' })));
  t.is(forged?.ext?.by, 'box:box-a', 'a forged principal is overwritten');
  t.is(forged?.ext?.tp, '00-abc', 'the trace context is kept');
  const plain = routing.accept('weft/up/box-a/headend/*/sessions', codec.encode(fromBox('box-a')));
  t.is(plain?.ext?.by, 'box:box-a', 'an envelope without ext gets one');
  const node = routing.accept('weft/up/box-a/headend/*/sessions', codec.encode(fromBox('box-a', { by: 'node:n2' })));
  t.is(node?.ext?.by, 'box:box-a', 'a box cannot pass itself off as a node');
});
