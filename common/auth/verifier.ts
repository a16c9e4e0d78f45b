/**
 * Token verification: the checks a server makes before a client may join
 * (ODIN-PROTOCOL.md section 1). Order: size, shape, algorithm, key, signature, then claims;
 * each refusal is a {@link TokenError} with its own code (see errors.ts).
 *
 * The token is parsed here once, strictly, so that every fault gets its own code; jose then
 * does the signature work (`compactVerify`, restricted to EdDSA) on the same bytes.
 */
import { compactVerify, importJWK, errors as joseErrors } from 'jose';
import { decodeBase64url } from './base64.ts';
import { AuthError, quoteForMessage, TokenError } from './errors.ts';
import { checkJwk, type OdinJwk } from './jwk.ts';

export type TokenVerifierParams = {
  /** `[[authorization.keys]]`; only `x` is used to verify. */
  keys: readonly OdinJwk[];
  /** `[authorization] allow_unsigned`: accept `alg: "none"` tokens (development only). */
  allowUnsigned: boolean;
  /** `[authorization] leeway`: clock skew tolerated on `nbf` and `exp`, in milliseconds. */
  leewayMs: number;
  /** Longer tokens are refused before parsing; 8 KiB by default. */
  maxTokenBytes?: number;
  /** Clock in milliseconds since the epoch; `Date.now` by default. */
  now?: () => number;
};

export const defaultMaxTokenBytes = 8 * 1024;

/**
 * Latest `exp` accepted: one year after now. Tokens are short-lived by design (odin-tokens and
 * the gateway issue 300 s ones); an `exp` further out is a token that effectively never expires.
 */
export const maxTokenLifetimeMs = 366 * 86_400_000;

/** What a verified token grants. Times are milliseconds since the epoch. */
export type VerifiedToken = {
  /** `uid`. */
  userId: string;
  /** `rid` as a list (a token may name several rooms). */
  roomIds: string[];
  /** `cid`. */
  customerId?: string;
  /** `nsp`, else `cid`, else ''. Rooms are identified by (namespace, room id). */
  namespace: string;
  /** `sub` as a list; empty when absent (absent means "may join"). */
  subjects: string[];
  /** `aud` as a list, when present. */
  audience?: string[];
  /** `adr`: the server address the token was issued for. */
  address?: string;
  /** `nbf` in milliseconds. */
  notBefore?: number;
  /** `exp` in milliseconds (always present: a token without it is refused). */
  expiresAt: number;
  /** `kid` of the key that verified the signature; absent for an accepted unsigned token. */
  keyId?: string;
  /** The whole claims set, as sent. */
  claims: Record<string, unknown>;
};

/** Subjects that let a token join a room; absence of `sub` does too. */
const joinSubjects = new Set(['connect', 'login']);

type ImportedKey = Awaited<ReturnType<typeof importJWK>>;

export class TokenVerifier {
  readonly #keys = new Map<string, Promise<ImportedKey>>();
  readonly #signingKey: OdinJwk | undefined;
  readonly #allowUnsigned: boolean;
  readonly #leewayMs: number;
  readonly #maxTokenBytes: number;
  readonly #now: () => number;

  constructor(params: TokenVerifierParams) {
    if (!Number.isFinite(params.leewayMs) || params.leewayMs < 0) {
      throw new RangeError(`token leeway must be >= 0 ms, got ${params.leewayMs}`);
    }
    this.#allowUnsigned = params.allowUnsigned;
    this.#leewayMs = params.leewayMs;
    this.#maxTokenBytes = params.maxTokenBytes ?? defaultMaxTokenBytes;
    this.#now = params.now ?? Date.now;
    const seen = new Map<string, string>();
    let signingKey: OdinJwk | undefined;
    for (const key of params.keys) {
      const { jwk } = checkJwk(key);
      const known = seen.get(jwk.kid);
      if (known !== undefined) {
        // The same key twice (e.g. configured locally and merged in by the supervisor) is harmless.
        if (known === jwk.x) continue;
        throw new AuthError(
          'invalid_key',
          `two [[authorization.keys]] entries share kid ${JSON.stringify(jwk.kid)} with different x`,
        );
      }
      seen.set(jwk.kid, jwk.x);
      if (signingKey === undefined && jwk.d !== undefined) signingKey = jwk;
      // Import the public half only: `d` never takes part in verification.
      const imported = importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x }, 'EdDSA');
      imported.catch(() => {}); // surfaced by verify(); avoids an unhandled rejection meanwhile
      this.#keys.set(jwk.kid, imported);
    }
    this.#signingKey = signingKey;
  }

  /** Whether a configured key has `d`, so the server can mint tokens (e.g. reconnect tokens). */
  hasSigningKey(): boolean {
    return this.#signingKey !== undefined;
  }

  /** The first configured key with `d`, for {@link signToken}. */
  signingKey(): OdinJwk | undefined {
    return this.#signingKey;
  }

  /** Verifies a token; throws {@link TokenError} on refusal. */
  /**
   * Verifies `token`. `audiences` lists the `aud` values this caller accepts (a token without
   * `aud` is accepted by all): `['sfu']` for joins; the standalone `Connect` endpoint also
   * accepts tokens meant for the gateway.
   */
  async verify(token: string, options: { audiences?: readonly string[] } = {}): Promise<VerifiedToken> {
    const accepted = options.audiences ?? ['sfu'];
    if (typeof token !== 'string') throw new TokenError('malformed', 'token must be a string');
    if (token.length > this.#maxTokenBytes || Buffer.byteLength(token) > this.#maxTokenBytes) {
      throw new TokenError('token_too_large', `token is larger than ${this.#maxTokenBytes} bytes`);
    }
    const segments = token.split('.');
    if (segments.length !== 3) {
      throw new TokenError(
        'malformed',
        `token must be a compact JWS of 3 dot-separated segments, got ${segments.length}`,
      );
    }
    const [headerPart = '', payloadPart = '', signaturePart = ''] = segments;
    const header = decodeJsonObject(headerPart, 'header');
    const alg = header.alg;
    let keyId: string | undefined;
    let payloadBytes: Uint8Array;

    if (alg === 'none') {
      if (!this.#allowUnsigned) {
        throw new TokenError(
          'unsigned_not_allowed',
          'unsigned token (alg "none") while allow_unsigned is off',
        );
      }
      if (signaturePart !== '') {
        throw new TokenError('malformed', 'an unsigned token (alg "none") must have an empty signature');
      }
      if (header.crit !== undefined) {
        throw new TokenError('malformed', 'token header has crit extensions this server does not support');
      }
      payloadBytes = decodeSegment(payloadPart, 'claims');
    } else {
      if (alg !== 'EdDSA') {
        // Only EdDSA keys exist here; refusing every other alg up front is what defeats
        // algorithm confusion (e.g. HS256 "signed" with the public key as the HMAC secret).
        const shown = typeof alg === 'string' ? quoteForMessage(alg, 16) : 'missing';
        throw new TokenError(
          'unsupported_algorithm',
          `token algorithm ${shown} is not supported, only EdDSA`,
        );
      }
      // jose's decoder is lenient (it ignores padding); insist on the canonical form first.
      decodeSegment(payloadPart, 'claims');
      decodeSegment(signaturePart, 'signature');
      const kid = header.kid;
      if (typeof kid !== 'string') throw new TokenError('unknown_key', 'token header has no kid');
      const key = this.#keys.get(kid);
      if (key === undefined) {
        throw new TokenError(
          'unknown_key',
          `token key id ${quoteForMessage(kid)} is not among the [[authorization.keys]]`,
        );
      }
      payloadBytes = await verifySignature(token, await key);
      keyId = kid;
    }

    const claims = parseJsonObject(payloadBytes, 'claims');
    return this.#checkClaims(claims, keyId, accepted);
  }

  #checkClaims(
    claims: Record<string, unknown>,
    keyId: string | undefined,
    accepted: readonly string[],
  ): VerifiedToken {
    const now = this.#now();
    const notBefore = optionalSeconds(claims, 'nbf');
    const expiresAt = optionalSeconds(claims, 'exp');
    // A token without `exp` would be a credential that never expires: anyone who once saw it
    // (a log, a proxy, a screenshot) could join forever. `@4players/odin-tokens` always sets it.
    if (expiresAt === undefined) {
      throw new TokenError(
        'missing_expiry',
        'token has no exp claim: tokens must expire (odin-tokens sets it)',
      );
    }
    if (now >= expiresAt + this.#leewayMs) {
      throw new TokenError('expired', 'token has expired (exp is past, beyond the configured leeway)');
    }
    if (notBefore !== undefined && now < notBefore - this.#leewayMs) {
      throw new TokenError(
        'not_yet_valid',
        'token is not valid yet (nbf is ahead, beyond the configured leeway)',
      );
    }
    // `exp = 1e308` (or the year 9999) is "never" written as a number. Measured from `nbf` when
    // that is later than now, so a token minted for a future window is judged by its length.
    if (expiresAt - Math.max(now, notBefore ?? now) > maxTokenLifetimeMs) {
      throw new TokenError(
        'invalid_claim',
        `token exp is more than ${maxTokenLifetimeMs / 86_400_000} days after its start: tokens must expire`,
      );
    }

    const audience = optionalStringOrList(claims, 'aud');
    if (audience !== undefined && !audience.some((value) => accepted.includes(value))) {
      throw new TokenError(
        'wrong_audience',
        accepted.length === 1 && accepted[0] === 'sfu'
          ? 'token audience does not include "sfu" (is it meant for the gateway?)'
          : `token audience includes none of ${accepted.map((value) => JSON.stringify(value)).join(', ')}`,
      );
    }

    const subjects = optionalStringOrList(claims, 'sub') ?? [];
    if (claims.sub !== undefined && !subjects.some((s) => joinSubjects.has(s))) {
      throw new TokenError('invalid_claim', 'token sub does not allow joining (needs "connect" or "login")');
    }

    if (claims.uid === undefined)
      throw new TokenError('missing_claim', 'token has no uid claim (the user id)');
    if (typeof claims.uid !== 'string') throw new TokenError('invalid_claim', 'token uid must be a string');
    if (claims.rid === undefined) {
      throw new TokenError('missing_claim', 'token has no rid claim (the room id or ids)');
    }
    const roomIds = optionalStringOrList(claims, 'rid') ?? [];
    if (roomIds.length === 0) throw new TokenError('invalid_claim', 'token rid is an empty list');

    const customerId = optionalString(claims, 'cid');
    const nsp = optionalString(claims, 'nsp');
    const address = optionalString(claims, 'adr');
    return {
      userId: claims.uid,
      roomIds,
      customerId,
      namespace: nsp ?? customerId ?? '',
      subjects,
      audience,
      address,
      notBefore,
      expiresAt,
      keyId,
      claims,
    };
  }
}

async function verifySignature(token: string, key: ImportedKey): Promise<Uint8Array> {
  try {
    const { payload } = await compactVerify(token, key, { algorithms: ['EdDSA'] });
    return payload;
  } catch (error) {
    if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
      throw new TokenError('bad_signature', 'token signature does not verify with the key named by its kid');
    }
    if (error instanceof joseErrors.JOSEAlgNotAllowed) {
      throw new TokenError('unsupported_algorithm', 'token algorithm is not supported, only EdDSA');
    }
    if (error instanceof joseErrors.JOSEError) {
      // JWSInvalid, JOSENotSupported (e.g. unknown crit extensions): the token's shape.
      throw new TokenError('malformed', `token is not a valid JWS (${error.code})`);
    }
    throw error;
  }
}

function decodeSegment(segment: string, what: string): Uint8Array {
  const bytes = decodeBase64url(segment);
  if (bytes === undefined) throw new TokenError('malformed', `token ${what} is not unpadded base64url`);
  return bytes;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseJsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch {
    throw new TokenError('malformed', `token ${what} is not UTF-8 JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TokenError('malformed', `token ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function decodeJsonObject(segment: string, what: string): Record<string, unknown> {
  return parseJsonObject(decodeSegment(segment, what), what);
}

function optionalString(claims: Record<string, unknown>, name: string): string | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new TokenError('invalid_claim', `token ${name} must be a string`);
  return value;
}

function optionalStringOrList(claims: Record<string, unknown>, name: string): string[] | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value as string[];
  throw new TokenError('invalid_claim', `token ${name} must be a string or an array of strings`);
}

/** A NumericDate claim (RFC 7519 section 2), returned in milliseconds. */
function optionalSeconds(claims: Record<string, unknown>, name: string): number | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TokenError('invalid_claim', `token ${name} must be a number of seconds`);
  }
  return value * 1000;
}
