// A preload for profiling a child the bench kills (bench rollout's head-end and fleets, which
// run until the bench ends): `node --import bench/_lifeprof.mjs ...` with WEFT_PROF_DIR set
// starts V8's sampling profiler on the main thread at once, and on SIGUSR2 writes
// `<dir>/<command>-<pid>.cpuprofile` (read it with scripts/cpu-profile.mjs) and exits. V8's own
// --cpu-prof writes only on a normal exit, which these children never reach.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.WEFT_PROF_DIR;
if (dir !== undefined && dir !== '') {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 }); // us: V8's default
  session.post('Profiler.start');
  process.once('SIGUSR2', () => {
    session.post('Profiler.stop', (err, r) => {
      const name = process.argv.slice(2, 4).join('-').replace(/[^\w-]/g, '') || 'node';
      if (err === null) writeFileSync(join(dir, `${name}-${process.pid}.cpuprofile`), JSON.stringify(r.profile));
      else console.error(`lifeprof: no profile from ${process.pid}: ${err.message}`);
      process.exit(0);
    });
  });
}
