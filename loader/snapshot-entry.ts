// The firmware as a V8 startup snapshot (dist/snapshot/box-snapshot.cjs, built by build.mjs):
// `node --snapshot-blob box.blob --build-snapshot box-snapshot.cjs` evaluates the whole bundle
// once and saves the heap; `node --snapshot-blob box.blob <firmware>/box.mjs <box flags>` then
// starts from that heap and runs main() with no parse or evaluation of the bundle (issue 18: under
// an emulator that is ~0.5 s of CPU). No I/O, timers or sockets here: they cannot be snapshotted.

import { startupSnapshot } from 'node:v8';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { main } from './main.ts';

/** The global the snapshot bundle reads as `import.meta.url` (build.mjs defines it so). */
declare global {
  var __weftImportMetaUrl: string | undefined;
}

startupSnapshot.setDeserializeMainFunction(() => {
  // As `node box.mjs ...`: argv[1] names the firmware's entry, whose folder has the wasm, the
  // profiles and the trusted keys; the rest are the box's flags.
  const entry = process.argv[1];
  if (entry === undefined) {
    process.stderr.write('box: give the firmware entry (box.mjs) after --snapshot-blob <blob>\n');
    process.exitCode = 2;
    return;
  }
  globalThis.__weftImportMetaUrl = pathToFileURL(resolve(entry)).href;
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      process.stderr.write(`box: ${(e as Error).message?.split('\n')[0] ?? String(e)}\n`); // one line, no stack
      process.exitCode = 1;
    },
  );
});
