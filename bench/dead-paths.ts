// False dead-path verdicts on a healthy broker under a busy CPU (issue 13.4): N boxes dial an
// in-process aedes broker at once, optionally with the event loop hogged in bursts, and the
// connects that end in TimeoutError are counted. Baseline beside it: the same transport with no
// lag source (a late deadline timer still confirms). `npm run bench -- dead-paths [N] [hogMs]`.

import { startAedesBroker } from '../headend/broker/broker-aedes.ts';
import { staticCredentials } from '../headend/broker/broker-auth.ts';
import { TimeoutError } from '../runtime/index.ts';
import { NO_LAG, eventLoopLag } from '../transport/lag.ts';
import { connectMqttTransport } from '../transport/mqtt.ts';

const N = Number(process.argv[2] ?? 200);
const HOG = Number(process.argv[3] ?? 50);

async function storm(withLag: boolean): Promise<number> {
  const ids = Array.from({ length: N }, (_, i) => `box-${i}`);
  const broker = await startAedesBroker({ credentials: staticCredentials(ids.map((id) => ({ role: 'box' as const, id, password: 's' }))), log: () => {} });
  const hog = setInterval(() => {
    const end = performance.now() + HOG;
    while (performance.now() < end);
  }, 100);
  // The box dialer's policy for a 40 ms RTT: 3 x 40 + 45 ms.
  const deadPath = { marginMs: 45, initialRttMs: 40, lag: withLag ? eventLoopLag() : NO_LAG };
  const rs = await Promise.allSettled(ids.map((id) => connectMqttTransport({ role: 'box', url: broker.url, id, password: 's', log: () => {}, deadPath })));
  clearInterval(hog);
  for (const r of rs) if (r.status === 'fulfilled') await r.value.close();
  await broker.close();
  return rs.filter((r) => r.status === 'rejected' && r.reason instanceof TimeoutError).length;
}

const baseline = await storm(false);
const measured = await storm(true);
console.table([
  { run: 'no lag source (late timers confirm)', boxes: N, hogMs: HOG, falseDeadPaths: baseline },
  { run: 'event-loop saturation (box default)', boxes: N, hogMs: HOG, falseDeadPaths: measured },
]);
console.log(JSON.stringify({ bench: 'dead-paths', boxes: N, hog_ms: HOG, false_dead_paths: measured, false_dead_paths_baseline: baseline }));
process.exit(0);
