/**
 * `common/auth`: ODIN access keys, key ids, JWKs and tokens (ODIN-PROTOCOL.md sections 1
 * and 5). Everything other modules may use is exported here.
 */
export {
  accessKeyLength,
  accessKeyVersion,
  crc8,
  generateAccessKey,
  type ParsedAccessKey,
  parseAccessKey,
} from './accessKey.ts';
export { signEd25519, verifyEd25519 } from './ed25519.ts';
export {
  AuthError,
  type AuthErrorCode,
  type KeyErrorCode,
  TokenError,
  type TokenErrorCode,
} from './errors.ts';
export {
  accessKeyToJwk,
  type CheckedJwk,
  checkJwk,
  jwkToTomlSection,
  type OdinJwk,
  publicJwk,
} from './jwk.ts';
export { keyIdFor, serverKeyIdPrefix, userKeyIdPrefix } from './keyId.ts';
export { deriveServerKey } from './serverKey.ts';
export {
  defaultTokenLifetimeSeconds,
  type SignTokenOptions,
  signingKeyFrom,
  signToken,
  type TokenAudience,
  type TokenClaimsInput,
} from './token.ts';
export {
  defaultMaxTokenBytes,
  maxTokenLifetimeMs,
  TokenVerifier,
  type TokenVerifierParams,
  type VerifiedToken,
} from './verifier.ts';
