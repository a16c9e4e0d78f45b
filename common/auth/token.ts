/**
 * Minting ODIN tokens (ODIN-PROTOCOL.md section 1), byte for byte as `@4players/odin-tokens`
 * 1.4.0 does: compact JWS, protected header `{"alg":"EdDSA","kid":…}` with no `typ`, claims in
 * the order rid, uid, cid, sub, aud, exp, nbf, `sub` defaulting to "connect" and
 * `exp = nbf + 300`. Ed25519 signatures are deterministic, so equal inputs give equal tokens.
 *
 * Used by `grid token` (test tokens) and by a server that holds a configured key with `d`
 * (reconnect tokens).
 */
import { CompactSign } from 'jose';
import { parseAccessKey } from './accessKey.ts';
import { privateKeyFromSeed } from './ed25519.ts';
import { AuthError } from './errors.ts';
import { checkJwk, type OdinJwk } from './jwk.ts';

/** Who may accept a token: the SFU itself or the gateway in front of it. */
export type TokenAudience = 'sfu' | 'gateway';

/** Claims a caller chooses; `nbf`/`exp` come from {@link SignTokenOptions}. */
export type TokenClaimsInput = {
  /** Room id, or the rooms the token may join. */
  rid: string | string[];
  /** User id. */
  uid: string;
  /** Customer id. */
  cid?: string;
  /** Purpose; "connect" when absent. */
  sub?: string | string[];
  /** Namespace (gateway tokens). */
  nsp?: string;
  /** Server address `host:port` the token is meant for. */
  adr?: string;
  aud?: TokenAudience | TokenAudience[];
  nbf?: never;
  exp?: never;
  [claim: string]: unknown;
};

export type SignTokenOptions = {
  /** Seconds from `nbf` to `exp`; 300 by default, as in odin-tokens. */
  lifetimeSeconds?: number;
  /** Sets `aud`; overrides `claims.aud`. */
  audience?: TokenAudience | TokenAudience[];
  /** Milliseconds since the epoch taken as "now" for `nbf`; `Date.now()` by default. */
  now?: number;
};

export const defaultTokenLifetimeSeconds = 300;

/** Signs a token with an access key or a JWK that has `d`. */
export async function signToken(
  signer: string | OdinJwk,
  claims: TokenClaimsInput,
  opts: SignTokenOptions = {},
): Promise<string> {
  const { seed, kid } = signingKeyFrom(signer);
  const lifetime = opts.lifetimeSeconds ?? defaultTokenLifetimeSeconds;
  if (!Number.isSafeInteger(lifetime) || lifetime <= 0) {
    throw new RangeError(`token lifetime must be a whole number of seconds > 0, got ${lifetime}`);
  }
  const nbf = Math.floor((opts.now ?? Date.now()) / 1000);
  const { rid, uid, cid, sub, aud, nbf: _nbf, exp: _exp, ...extra } = claims;
  // Key order matters for byte-equality with odin-tokens; JSON.stringify drops undefined values.
  const payload = {
    rid,
    uid,
    cid,
    sub: sub ?? 'connect',
    aud: opts.audience ?? aud,
    ...extra,
    exp: nbf + lifetime,
    nbf,
  };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'EdDSA', kid })
    .sign(privateKeyFromSeed(seed));
}

/**
 * The Ed25519 seed and key id of a signer: an access key, or a JWK with its private part `d`.
 * Throws AuthError (`invalid_access_key`, `invalid_key`) naming what is wrong, never the key.
 */
export function signingKeyFrom(signer: string | OdinJwk): { seed: Uint8Array; kid: string } {
  if (typeof signer === 'string') {
    const { seed, keyId } = parseAccessKey(signer);
    return { seed, kid: keyId };
  }
  const { jwk, seed } = checkJwk(signer);
  if (seed === undefined) {
    throw new AuthError(
      'invalid_key',
      `authorization key ${JSON.stringify(jwk.kid)} has no d: it cannot sign`,
    );
  }
  return { seed, kid: jwk.kid };
}
