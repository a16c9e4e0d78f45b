/**
 * Every way `common/auth` refuses an input, in one place (ODIN-PROTOCOL.md section 1).
 *
 * Codes are stable: the transports map them to the RPC error a client sees, metrics count
 * them, and tests assert them. Messages name the field at fault and the fix, and never hold
 * the token, an access key or a seed: callers may log them as they are.
 */

/**
 * Why a token was refused. Checked in this order, so a token with several faults reports the
 * first one.
 *
 * | code                    | meaning                                                              |
 * |-------------------------|----------------------------------------------------------------------|
 * | `token_too_large`       | longer than `maxTokenBytes` (8 KiB by default); checked before parsing |
 * | `malformed`             | not three base64url segments, bad base64url, bad UTF-8/JSON, a header or claims set that is not a JSON object, a signature on an `alg: none` token |
 * | `unsupported_algorithm` | `alg` other than `EdDSA` (HS256, RS256, ...): refusing them is what stops algorithm confusion, e.g. an HMAC token keyed with a public key |
 * | `unsigned_not_allowed`  | `alg: none` while `allow_unsigned` is off                           |
 * | `unknown_key`           | no `kid`, or a `kid` that is not in `[[authorization.keys]]`         |
 * | `bad_signature`         | the Ed25519 signature does not verify with the key named by `kid`   |
 * | `missing_expiry`        | no `exp`: a token that never expires is refused (odin-tokens always sets `exp`) |
 * | `expired`               | now >= `exp` + leeway                                                |
 * | `not_yet_valid`         | now < `nbf` - leeway                                                 |
 * | `wrong_audience`        | `aud` present and without `"sfu"` (e.g. a token for the gateway)     |
 * | `missing_claim`         | no `uid` or no `rid` (the message says which)                        |
 * | `invalid_claim`         | a claim of the wrong type, an `exp` more than a year ahead, an empty `rid` list, or a `sub` that does not allow joining (only admin subjects) |
 */
export type TokenErrorCode =
  | 'token_too_large'
  | 'malformed'
  | 'unsupported_algorithm'
  | 'unsigned_not_allowed'
  | 'unknown_key'
  | 'bad_signature'
  | 'missing_expiry'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_audience'
  | 'missing_claim'
  | 'invalid_claim';

/**
 * Faults in keys rather than tokens:
 * - `invalid_access_key`: not an ODIN access key (wrong length, version byte or CRC-8).
 * - `invalid_key`: a JWK (e.g. an `[[authorization.keys]]` entry) that is not an Ed25519 OKP key
 *   with a 32-byte `x` (and, when present, a 32-byte `d` that matches `x`), or a duplicate `kid`.
 */
export type KeyErrorCode = 'invalid_access_key' | 'invalid_key';

export type AuthErrorCode = KeyErrorCode | TokenErrorCode;

/** Base of every error `common/auth` throws on purpose. */
export class AuthError extends Error {
  readonly code: AuthErrorCode;

  constructor(code: AuthErrorCode, message: string) {
    super(message);
    this.name = 'AuthError';
    this.code = code;
  }
}

/** A token was refused; `code` says why (see {@link TokenErrorCode}). */
export class TokenError extends AuthError {
  override readonly code: TokenErrorCode;

  constructor(code: TokenErrorCode, message: string) {
    super(code, message);
    this.name = 'TokenError';
    this.code = code;
  }
}

/** A value from a token, shortened and quoted so that it is safe in a log line. */
export function quoteForMessage(value: string, max = 40): string {
  const short = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(short);
}
