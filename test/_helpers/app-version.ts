// A built app folder copied at another version and signed again with the build's dev key, for
// tests that publish new versions to a real head-end; one module's source may get a line more.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeManifest, encodeManifest, importSigningKey, sha256Hex, signManifest, utf8 } from '../../runtime/app/index.ts';

/**
 * Copy the built app at `from` to `to` as `version`, signed with the key in `keyFile` (the build's
 * `keys/dev.jwk.json`); `append.text` is added to the end of module `append.module` (its sha256
 * and size follow). Gives `to`.
 */
export async function builtAppAt(from: string, to: string, keyFile: string, version: string, append?: { module: string; text: string }): Promise<string> {
  cpSync(from, to, { recursive: true });
  const m = decodeManifest(readFileSync(join(to, 'manifest.json')));
  if (append !== undefined) {
    const mod = m.modules.find((x) => x.name === append.module);
    if (mod === undefined) throw new Error(`the ${m.app} app has no ${append.module} module`);
    const bytes = utf8(`${readFileSync(join(to, mod.file), 'utf8')}${append.text}`);
    writeFileSync(join(to, mod.file), bytes);
    Object.assign(mod, { sha256: await sha256Hex(bytes), size: bytes.length });
  }
  const manifest = encodeManifest({ ...m, version });
  writeFileSync(join(to, 'manifest.json'), manifest);
  writeFileSync(join(to, 'manifest.sig'), await signManifest(manifest, await importSigningKey(JSON.parse(readFileSync(keyFile, 'utf8')))));
  return to;
}
