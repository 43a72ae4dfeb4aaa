// Verification before any code runs: the manifest's signature against the trusted keys, then
// each module's bytes against the manifest's sha-256. Only this file makes VerifiedModule values,
// and the sandbox loads nothing else. Expected refusals are values (Result), not throws.

import { ArgumentError } from '../errors.ts';
import { fail, ok, type Result } from '../result.ts';
import { fromUtf8, sha256Hex } from './bytes.ts';
import { ManifestError, SignatureError } from './errors.ts';
import { decodeManifest, type Manifest, type ModuleEntry } from './manifest.ts';
import { parseSignature, type TrustedKey, verifySignature } from './signing.ts';

declare const verifiedBrand: unique symbol;

/** A manifest whose signature checked out against a trusted key. */
export interface TrustedManifest {
  readonly [verifiedBrand]: 'manifest';
  readonly manifest: Manifest;
  readonly keyId: string;
}

/** A module whose bytes match its signed manifest entry; `source` is its script text. */
export interface VerifiedModule {
  readonly [verifiedBrand]: 'module';
  readonly app: string;
  readonly version: string;
  readonly keyId: string;
  readonly entry: ModuleEntry;
  readonly source: string;
}

export interface VerifiedApp {
  readonly manifest: Manifest;
  readonly keyId: string;
  readonly modules: ReadonlyMap<string, VerifiedModule>;
}

/** Verify manifest.json bytes and manifest.sig bytes (undefined when the file was absent). */
export async function verifyManifest(
  manifestBytes: Uint8Array,
  signature: Uint8Array | undefined,
  trusted: readonly TrustedKey[],
): Promise<Result<TrustedManifest, SignatureError | ManifestError>> {
  if (signature === undefined || signature.length === 0) return fail(new SignatureError('unsigned', 'the app has no manifest signature'));
  const parsed = parseSignature(signature);
  if (parsed === undefined) return fail(new SignatureError('malformed-signature', 'manifest.sig is not a Weft Ed25519 signature file'));
  const key = trusted.find((k) => k.keyId === parsed.keyId);
  if (key === undefined) {
    return fail(new SignatureError('unknown-key', `signed by key ${parsed.keyId}, which this device does not trust`, { keyId: parsed.keyId }));
  }
  if (!(await verifySignature(manifestBytes, parsed.sig, key))) {
    return fail(new SignatureError('bad-signature', `the signature does not match the manifest for key ${key.keyId}`, { keyId: key.keyId }));
  }
  let manifest: Manifest;
  try {
    manifest = decodeManifest(manifestBytes);
  } catch (e) {
    if (e instanceof ManifestError) return fail(e);
    throw e;
  }
  return ok({ manifest, keyId: key.keyId } as TrustedManifest);
}

/** Check one module's bytes against its entry in a trusted manifest. */
export async function verifyModule(trusted: TrustedManifest, name: string, bytes: Uint8Array): Promise<Result<VerifiedModule, SignatureError>> {
  const entry = trusted.manifest.modules.find((m) => m.name === name);
  if (entry === undefined) throw new ArgumentError(`verifyModule: the manifest of ${trusted.manifest.app} has no module "${name}"`, 'name');
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError('verifyModule: bytes must be a Uint8Array', 'bytes');
  if (bytes.length !== entry.size) {
    return fail(new SignatureError('tampered-module', `${name}: ${bytes.length} bytes, the manifest says ${entry.size}`, { module: name }));
  }
  const digest = await sha256Hex(bytes);
  if (digest !== entry.sha256) {
    return fail(new SignatureError('tampered-module', `${name}: sha-256 ${digest.slice(0, 16)}... does not match the manifest`, { module: name }));
  }
  const source = fromUtf8(bytes);
  if (source === undefined) return fail(new SignatureError('tampered-module', `${name}: not UTF-8 text`, { module: name }));
  const m = trusted.manifest;
  return ok({ app: m.app, version: m.version, keyId: trusted.keyId, entry, source } as VerifiedModule);
}

export interface VerifyAppInput {
  manifest: Uint8Array;
  signature: Uint8Array | undefined;
  /** Module bytes by module name. */
  modules: ReadonlyMap<string, Uint8Array>;
  trusted: readonly TrustedKey[];
  /** Which modules to verify (a box verifies only what it will run). Default: all. */
  select?: (entry: ModuleEntry) => boolean;
}

/** Verify the manifest, then every selected module; the first refusal wins. */
export async function verifyApp(input: VerifyAppInput): Promise<Result<VerifiedApp, SignatureError | ManifestError>> {
  const t = await verifyManifest(input.manifest, input.signature, input.trusted);
  if (!t.ok) return t;
  const modules = new Map<string, VerifiedModule>();
  for (const entry of t.value.manifest.modules) {
    if (input.select !== undefined && !input.select(entry)) continue;
    const bytes = input.modules.get(entry.name);
    if (bytes === undefined) return fail(new SignatureError('missing-module', `${entry.name}: no bytes for ${entry.file}`, { module: entry.name }));
    const v = await verifyModule(t.value, entry.name, bytes);
    if (!v.ok) return v;
    modules.set(entry.name, v.value);
  }
  return ok({ manifest: t.value.manifest, keyId: t.value.keyId, modules });
}
