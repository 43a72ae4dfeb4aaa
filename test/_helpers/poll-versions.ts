// The built poll at another version with a changed tally (a new app-wide code), signed with the
// build's dev key: for tests of app-wide modules across versions (issue 15.6) on real processes.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeManifest, encodeManifest, importSigningKey, sha256Hex, signManifest, utf8 } from '../../runtime/app/index.ts';

/** Copy the built poll at `from` to `to` as `version`, its tally's bytes changed; gives `to`. */
export async function pollWithNewTally(from: string, to: string, keyFile: string, version: string): Promise<string> {
  cpSync(from, to, { recursive: true });
  const m = decodeManifest(readFileSync(join(to, 'manifest.json')));
  const tally = m.modules.find((x) => x.name === 'tally');
  if (tally === undefined) throw new Error('the poll has no tally module');
  const bytes = utf8(`${readFileSync(join(to, tally.file), 'utf8')}\n// ${version}: a new tally\n`);
  writeFileSync(join(to, tally.file), bytes);
  Object.assign(tally, { sha256: await sha256Hex(bytes), size: bytes.length });
  const manifest = encodeManifest({ ...m, version });
  writeFileSync(join(to, 'manifest.json'), manifest);
  writeFileSync(join(to, 'manifest.sig'), await signManifest(manifest, await importSigningKey(JSON.parse(readFileSync(keyFile, 'utf8')))));
  return to;
}
