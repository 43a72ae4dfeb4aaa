// runtime/app: app manifests, the placement rule, signing and verification, mutable state codec.
// Platform-neutral (WebCrypto, TextEncoder); never evaluates module code. Exports by name.

export { ManifestError, SignatureError } from './errors.ts';
export type { SignatureProblem } from './errors.ts';
export {
  MODULE_KINDS,
  TIERS,
  CPU_CLASSES,
  CAPABILITIES,
  MAX_MODULES,
  MAX_MODULE_BYTES,
  MAX_PERMITS,
  CRITICAL_GUARDS,
  DURABILITIES,
  checkManifest,
  encodeManifest,
  decodeManifest,
  servicesUsed,
} from './manifest.ts';
export type { Manifest, ModuleEntry, ModuleKind, ModuleNeeds, ModuleCritical, CriticalGuard, Durability, Tier, CpuClass, Capability } from './manifest.ts';
export { placeModules } from './placement.ts';
export { cohort01 } from './cohort.ts';
export { encodeRollout, parseRollout, rolloutTarget, ROLLOUT_STATES, ROLLOUT_NAMES, MAX_DIRECTIVE_BYTES } from './rollout.ts';
export type { RolloutDirective, RolloutCandidate, RolloutState, RolloutTarget } from './rollout.ts';
export type { BoxResources, ModulePlacement, PlacementReason, Side } from './placement.ts';
export {
  generateSigningKey,
  importSigningKey,
  keyIdOf,
  trustedKey,
  trustedKeyToJson,
  trustedKeyFromJson,
  signManifest,
  parseSignature,
  verifySignature,
} from './signing.ts';
export type { SigningKey, TrustedKey, TrustedKeyJson, SignatureFile, Ed25519Jwk, CryptoKeyLike } from './signing.ts';
export { verifyManifest, verifyModule, verifyApp } from './verify.ts';
export type { TrustedManifest, VerifiedModule, VerifiedApp, VerifyAppInput } from './verify.ts';
export { StateCodec, DEFAULT_MAX_STATE_BYTES } from './state.ts';
export { sha256Hex, toHex, toBase64, fromBase64, utf8, fromUtf8, jsonOf } from './bytes.ts';
