// Ed25519 keys and manifest signatures through WebCrypto (globalThis.crypto.subtle), so the
// same code signs in build.mjs and verifies on the box. Owns the manifest.sig format; no I/O.

import { ArgumentError } from '../errors.ts';
import { concatBytes, fromBase64, jsonOf, sha256Hex, toBase64, utf8 } from './bytes.ts';

/** A private key able to sign manifests. */
export interface SigningKey {
  keyId: string;
  privateKey: CryptoKeyLike;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
}

/** A public key a device trusts; `name` is for people (`dev`, `operator-2026`). */
export interface TrustedKey {
  keyId: string;
  publicKey: Uint8Array;
  name?: string;
  /** Checks signatures for this key instead of WebCrypto: only an emulator's per-process share
   *  (devices/verify-share.ts). Never from a key file: trustedKeyFromJson makes no functions. */
  verify?: (bytes: Uint8Array, sig: Uint8Array) => Promise<boolean>;
}

/** The JSON form of a trusted key, as kept in key files and device configuration. */
export interface TrustedKeyJson {
  name?: string;
  keyId: string;
  publicKey: string;
}

/** The manifest.sig file, JSON: which key signed, and the signature over the manifest bytes. */
export interface SignatureFile {
  v: 1;
  alg: 'Ed25519';
  keyId: string;
  sig: string;
}

// Types derived from the global WebCrypto object: runtime/ has no DOM lib and no node: imports.
type Subtle = typeof globalThis.crypto.subtle;
export type CryptoKeyLike = Awaited<ReturnType<Subtle['importKey']>>;

/** An Ed25519 private key in JWK form (RFC 8037): `d` private, `x` public, both base64url. */
export interface Ed25519Jwk {
  kty: 'OKP';
  crv: 'Ed25519';
  d: string;
  x: string;
  [other: string]: unknown;
}

const ALG = { name: 'Ed25519' } as const;
/** Domain separation: a manifest signature can never be replayed as some other signed object. */
const CONTEXT = utf8('weft-manifest-v1\0');
const KEY_ID = /^[0-9a-f]{16}$/;

function subtle(): Subtle {
  const s = globalThis.crypto?.subtle;
  if (s === undefined) throw new ArgumentError('WebCrypto (globalThis.crypto.subtle) is not available');
  return s;
}

/** Key id: the first 8 bytes of SHA-256 over the raw public key, in hex. */
export async function keyIdOf(publicKey: Uint8Array): Promise<string> {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) throw new ArgumentError('an Ed25519 public key is 32 bytes', 'publicKey');
  return (await sha256Hex(publicKey)).slice(0, 16);
}

/** A fresh key pair. `jwk` is the private key for storing (e.g. .weft/keys/dev.jwk); keep it secret. */
export async function generateSigningKey(): Promise<{ key: SigningKey; jwk: Ed25519Jwk }> {
  const pair = (await subtle().generateKey(ALG, true, ['sign', 'verify'])) as { privateKey: CryptoKeyLike };
  const jwk = (await subtle().exportKey('jwk', pair.privateKey)) as Ed25519Jwk;
  return { key: await importSigningKey(jwk), jwk };
}

/** Load a private key from its JWK form (kty OKP, crv Ed25519, d and x). */
export async function importSigningKey(input: unknown): Promise<SigningKey> {
  const jwk = input as Partial<Ed25519Jwk> | null;
  if (jwk === null || typeof jwk !== 'object' || jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string' || typeof jwk.x !== 'string') {
    throw new ArgumentError('importSigningKey: expected an Ed25519 private JWK (kty OKP, crv Ed25519, d, x)', 'jwk');
  }
  const publicKey = fromBase64Url(jwk.x);
  if (fromBase64Url(jwk.d)?.length !== 32) throw new ArgumentError('importSigningKey: jwk.d is not a 32-byte key', 'jwk');
  if (publicKey === undefined || publicKey.length !== 32) throw new ArgumentError('importSigningKey: jwk.x is not a 32-byte key', 'jwk');
  const privateKey = await subtle().importKey('jwk', { kty: 'OKP', crv: 'Ed25519', d: jwk.d, x: jwk.x }, ALG, false, ['sign']);
  return { keyId: await keyIdOf(publicKey), privateKey, publicKey };
}

export async function trustedKey(publicKey: Uint8Array, name?: string): Promise<TrustedKey> {
  const keyId = await keyIdOf(publicKey);
  return name === undefined ? { keyId, publicKey } : { keyId, publicKey, name };
}

export function trustedKeyToJson(key: TrustedKey): TrustedKeyJson {
  const out: TrustedKeyJson = { keyId: key.keyId, publicKey: toBase64(key.publicKey) };
  return key.name === undefined ? out : { name: key.name, ...out };
}

/** Parse a trusted key from JSON; the key id is recomputed and must match. */
export async function trustedKeyFromJson(json: unknown): Promise<TrustedKey> {
  const j = json as Partial<TrustedKeyJson> | null;
  if (j === null || typeof j !== 'object' || typeof j.publicKey !== 'string' || typeof j.keyId !== 'string') {
    throw new ArgumentError('trusted key must be { name?, keyId, publicKey (base64) }', 'key');
  }
  const raw = fromBase64(j.publicKey);
  if (raw === undefined || raw.length !== 32) throw new ArgumentError('trusted key: publicKey is not 32 bytes of base64', 'publicKey');
  const key = await trustedKey(raw, typeof j.name === 'string' ? j.name : undefined);
  if (key.keyId !== j.keyId) throw new ArgumentError(`trusted key: keyId ${j.keyId} does not match the public key (${key.keyId})`, 'keyId');
  return key;
}

/** Sign the exact manifest bytes; returns the bytes of manifest.sig. */
export async function signManifest(manifestBytes: Uint8Array, key: SigningKey): Promise<Uint8Array> {
  const sig = new Uint8Array(await subtle().sign(ALG, key.privateKey, concatBytes(CONTEXT, manifestBytes)));
  const file: SignatureFile = { v: 1, alg: 'Ed25519', keyId: key.keyId, sig: toBase64(sig) };
  return utf8(`${JSON.stringify(file)}\n`);
}

/** Parse manifest.sig; undefined when it is not a Weft signature file. */
export function parseSignature(bytes: Uint8Array): { keyId: string; sig: Uint8Array } | undefined {
  let f: Partial<SignatureFile>;
  try {
    f = jsonOf(bytes) as Partial<SignatureFile>;
  } catch {
    return undefined;
  }
  if (f === null || typeof f !== 'object' || f.v !== 1 || f.alg !== 'Ed25519' || typeof f.keyId !== 'string' || !KEY_ID.test(f.keyId)) return undefined;
  if (typeof f.sig !== 'string' || Object.keys(f).length !== 4) return undefined;
  const sig = fromBase64(f.sig);
  return sig === undefined || sig.length !== 64 ? undefined : { keyId: f.keyId, sig };
}

/** Check a signature against the manifest bytes with one public key. */
export async function verifySignature(manifestBytes: Uint8Array, sig: Uint8Array, key: TrustedKey): Promise<boolean> {
  if (key.verify) return key.verify(manifestBytes, sig);
  const pub = await subtle().importKey('raw', key.publicKey, ALG, false, ['verify']);
  return subtle().verify(ALG, pub, sig, concatBytes(CONTEXT, manifestBytes));
}

function fromBase64Url(s: string): Uint8Array | undefined {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/');
  return fromBase64(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
}
