// The lab's stage holds its carousel port for its whole life (devices/lab/stage.ts): on a machine
// shared with fleets whose boxes bind hundreds of ephemeral loopback UDP ports, a port that was
// only chosen (found free, then released) could be bound by another process between boots, which
// then swallowed the carousel: every boot of one bench run stood in `tuning` for 45 s. A box still
// gets the carousel (as a follower of the stage's hub), and a relay hands it to a second port (the
// VM's hostfwd).
import { createSocket } from 'node:dgram';
import test from 'ava';
import { listenUdp } from '../../carousel/index.ts';
import { withStage } from '../../devices/lab/stage.ts';

const bindFails = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(true));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(false)));
  });

test('no other socket can take the stage\'s carousel port, and boxes and the relay still get the carousel', async (t) => {
  t.timeout(120_000, 'the stage builds the firmware and the guide');
  await withStage(async (stage) => {
    t.true(await bindFails(stage.carouselPort), 'the stage holds its carousel port between boots');
    // A box listens as it does (loader/tuner-udp.ts: loopback is shared): it follows the stage's hub.
    const box = { n: 0 };
    const got = new Promise<void>((resolve) => {
      void listenUdp({ port: stage.carouselPort, host: '127.0.0.1', share: true }, () => {
        if (++box.n === 3) resolve();
      }).then((l) => t.teardown(() => l.close()));
    });
    await got;
    const relay = await stage.carouselRelay();
    t.teardown(() => relay.close());
    const relayed = new Promise<void>((resolve) => {
      const s = createSocket('udp4');
      s.on('message', () => s.close(() => resolve()));
      // The relay's port was found free; bind it as qemu's hostfwd would.
      s.bind(relay.port, '127.0.0.1');
    });
    await relayed;
    t.pass();
  });
});
