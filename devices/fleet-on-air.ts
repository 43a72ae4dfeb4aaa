// The app and version on air for a light fleet: the carousel's boot tier acquired and verified
// once per process, so every light box of it opens a session for what a full box would run.

import { type Clock, type TimerHandle, systemClock } from '../runtime/index.ts';
import { Acquirer, type Tuner } from '../loader/index.ts';
import type { TrustedKey } from '../runtime/app/index.ts';

/** The app and version on air: the boot tier of the carousel acquired and verified once, for every light box of a process. */
export async function appOnAir(tuner: Tuner, trusted: readonly TrustedKey[], timeoutMs: number, clock: Clock = systemClock): Promise<{ app: string; version: string }> {
  let found: (v: { app: string; version: string }) => void = () => {};
  const got = new Promise<{ app: string; version: string }>((r) => (found = r));
  const acq = new Acquirer({ tuner, trusted, now: () => clock.now(), onEvent: (e) => e.kind === 'verified' && found({ app: e.app.manifest.app, version: e.app.manifest.version }) });
  let timer: TimerHandle | undefined;
  const late = new Promise<never>((_, reject) => (timer = clock.setTimeout(() => reject(new Error(`no signed app verified on the carousel within ${timeoutMs} ms`)), timeoutMs)));
  try {
    await acq.tune();
    return await Promise.race([got, late]);
  } finally {
    if (timer !== undefined) clock.clearTimeout(timer);
    await acq.close();
  }
}
