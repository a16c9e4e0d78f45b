/**
 * Tokens of the admin calls (`RoomClose`, `RoomUpdate`, `RoomBanClient`, `RoomSendMessage`):
 * `sub` names the call (ODIN-PROTOCOL.md section 1). The server's TokenVerifier accepts only
 * join subjects, so these are checked here: EdDSA with a known `kid`, `nbf`/`exp` within the
 * leeway, `aud` absent or "gateway", `sub` holding the call, `rid` and `uid` present.
 */
import { type OdinJwk, verifyEd25519 } from '../../common/auth/index.ts';

export type AdminToken = { namespace: string; roomIds: string[]; userId: string; subjects: string[] };

export class AdminTokenError extends Error {}

const MAX_TOKEN_CHARS = 8 * 1024;

const json = (part: string): Record<string, unknown> => {
  const value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new AdminTokenError('not a JSON object');
  return value as Record<string, unknown>;
};

const list = (v: unknown): string[] =>
  typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

/**
 * A compact JWS signed (EdDSA) by one of `keys`: its claims. The gate of the public endpoint,
 * checked from the Authorization header before a body is read.
 */
export function verifySignedByKeys(token: string, keys: readonly OdinJwk[]): Record<string, unknown> {
  if (token.length > MAX_TOKEN_CHARS) throw new AdminTokenError('token too long');
  const [h = '', p = '', s = '', ...rest] = token.split('.');
  if (rest.length > 0) throw new AdminTokenError('token is not a compact JWS');
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = json(h);
    claims = json(p);
  } catch {
    throw new AdminTokenError('token is not a compact JWS');
  }
  if (header.alg !== 'EdDSA') throw new AdminTokenError('token algorithm must be EdDSA');
  const key = keys.find((k) => k.kid === header.kid);
  // The same words for "no such key" and "no such fleet": the answer must not tell which exists.
  if (!key) throw new AdminTokenError('token key id is unknown');
  const ok = verifyEd25519(
    Buffer.from(key.x, 'base64url'),
    new TextEncoder().encode(`${h}.${p}`),
    Buffer.from(s, 'base64url'),
  );
  if (!ok) throw new AdminTokenError('token signature is invalid');
  return claims;
}

/** NumericDate (RFC 7519 section 2): a number of seconds. Absent: undefined; anything else is refused. */
function numericDate(claims: Record<string, unknown>, name: 'nbf' | 'exp'): number | undefined {
  const v = claims[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new AdminTokenError(`token ${name} must be a number (seconds since 1970)`);
  return v;
}

export function verifyAdminToken(
  token: string,
  keys: readonly OdinJwk[],
  subject: string,
  now = Date.now(),
  leewayMs = 5000,
): AdminToken {
  const claims = verifySignedByKeys(token, keys);
  const nbf = numericDate(claims, 'nbf');
  const exp = numericDate(claims, 'exp');
  if (nbf !== undefined && nbf * 1000 > now + leewayMs) throw new AdminTokenError('token not yet valid');
  if (exp !== undefined && exp * 1000 < now - leewayMs) throw new AdminTokenError('token expired');
  const audience = list(claims.aud);
  if (claims.aud !== undefined && !audience.includes('gateway'))
    throw new AdminTokenError('token aud is not "gateway"');
  const subjects = list(claims.sub).map((x) => x.toLowerCase());
  if (!subjects.includes(subject)) throw new AdminTokenError(`token sub does not allow ${subject}`);
  const roomIds = list(claims.rid);
  if (roomIds.length === 0 || typeof claims.uid !== 'string')
    throw new AdminTokenError('token needs rid and uid');
  const namespace =
    typeof claims.nsp === 'string' ? claims.nsp : typeof claims.cid === 'string' ? claims.cid : '';
  return { namespace, roomIds, userId: claims.uid, subjects };
}
