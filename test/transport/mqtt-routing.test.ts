import test from 'ava';
import fc from 'fast-check';
import { EnvelopeCodec, type Envelope } from '../../runtime/index.ts';
import { resolveMqttOptions } from '../../transport/mqtt-options.ts';
import { MqttRouting } from '../../transport/mqtt-routing.ts';

// The head-end's ingress checks (transport/mqtt-routing.ts), fed directly: the topic's box is the
// login, the envelope's dst must be the topic's address, `ext.by` is stamped over anything sent.

const codec = new EnvelopeCodec();
function ingress(): MqttRouting {
  return new MqttRouting(resolveMqttOptions({ role: 'headend', url: 'mqtt://127.0.0.1:1', id: 'node-1', rateLimit: { perSec: 1e9, burst: 1e9 }, log: () => {} }), codec);
}
const from = (dst: string, ext?: Envelope['ext']): Uint8Array =>
  codec.encode({ v: 1, kind: 'req', id: 1, src: { vaddr: 'weft://box/box-a/inbox' }, dst: { vaddr: dst }, body: 1, ...(ext === undefined ? {} : { ext }) });

test('property: an envelope is taken only when its dst is exactly weft:// and the topic after the box (the old string rule)', (t) => {
  const level = fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/);
  const path = fc.array(level, { minLength: 3, maxLength: 4 }).map((l) => l.join('/'));
  fc.assert(
    fc.property(path, path, fc.boolean(), (topicPath, dstPath, same) => {
      const r = ingress();
      const dst = `weft://${same ? topicPath : dstPath}`;
      const env = r.accept(`weft/up/box-a/${topicPath}`, from(dst));
      t.is(env !== undefined, dst === `weft://${topicPath}`);
      t.is(r.rejected.badTopic, env === undefined ? 1 : 0);
    }),
    { numRuns: 500 },
  );
});

test('ext.by is the topic\'s box, whatever the box sent; its traceparent is kept', (t) => {
  const r = ingress();
  const dst = 'weft://guide/s1/search';
  t.deepEqual(r.accept('weft/up/box-a/guide/s1/search', from(dst))?.ext, { by: 'box:box-a' });
  t.deepEqual(r.accept('weft/up/box-a/guide/s1/search', from(dst, { by: 'node:evil', tp: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }))?.ext, {
    by: 'box:box-a',
    tp: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  });
  t.is(r.accept('weft/up/box-a/guide/s1/searc', from(dst)), undefined);
  t.is(r.accept('weft/up/box-a/guide/s1/search/x', from(dst)), undefined);
});
