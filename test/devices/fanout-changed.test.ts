// [issue 19.5] The shared demux remembers blocks no box wanted and stops asking about them. A box
// that takes a fresh receiver (more tiers wanted, or a refusal) wants again what it has not seen,
// with no DSI or DII to say so: its acquirer tells the fan-out, and the next block reaches it.
import test from 'ava';
import { SectionPacketizer, encodeDdb, encodeDii, encodeDsi, makeModule } from '../../carousel/index.ts';
import { Acquirer, type Tuner } from '../../loader/index.ts';
import { TunerFanout } from '../../devices/index.ts';
import { randomBytes } from '../carousel/_app.ts';

const ui = makeModule('ui.js', 'client', 'boot', randomBytes(100, 1));
const epg = makeModule('epg.js', 'client', 'fallback-1', randomBytes(100, 2));
const info = (m: typeof ui) => ({ name: m.name, kind: m.kind, tier: m.tier, sha256: Uint8Array.from(Buffer.from(m.sha256, 'hex')), appId: 'guide', appVersion: '1.0.0' });
const ddb = (moduleId: number, data: Uint8Array) => encodeDdb({ downloadId: 7, moduleId, version: 4, block: 0, data }, 0);

test('an acquirer that takes a fresh receiver is asked again about blocks no box wanted', async (t) => {
  let onData: ((d: Uint8Array) => void) | undefined;
  const source: Tuner = { tune: (f) => ((onData = f), Promise.resolve({ close: async () => {} })) };
  const fan = new TunerFanout(source);
  const acq = new Acquirer({ tuner: fan.tuner(), trusted: [], now: () => 0, onEvent: () => {} });
  await acq.tune();
  const pz = new SectionPacketizer(0x200);
  const feed = (...sections: Uint8Array[]): void => {
    for (let p = pz.packet(() => sections.shift()); p !== undefined; p = pz.packet(() => sections.shift())) onData?.(p);
  };
  const groups = [{ groupId: 0x80000002, size: 1000, tier: 'boot' as const }];
  feed(encodeDsi({ transactionId: 0x80000000, appId: 'guide', appVersion: '1.0.0', groups }));
  feed(encodeDii({ transactionId: 0x80000002, downloadId: 7, blockSize: 4066, modules: [ui, epg].map((m, i) => ({ id: i + 1, size: m.bytes.length, version: 4, info: info(m) })) }));
  feed(ddb(1, ui.bytes), ddb(2, epg.bytes));
  t.is(fan.stats().unwantedBlocks, 1, 'epg.js (fallback-1) is wanted by no box yet');
  acq.want(['fallback-1']); // a fresh receiver: it has seen no DII, so it keeps any block for one
  feed(ddb(2, epg.bytes));
  t.is(fan.stats().unwantedBlocks, 1, 'the block was handed over, not dropped as known unwanted');
  t.is(acq.stats().receiver.buffered, 1, 'the fresh receiver keeps it for its DII');
  await acq.close();
});
