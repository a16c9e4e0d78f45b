/**
 * Tokens of the admin calls (`RoomClose`, `RoomUpdate`, `RoomBanClient`, `RoomSendMessage`):
 * `sub` names the call (ODIN-PROTOCOL.md section 1). The server's TokenVerifier accepts only
 * join subjects, so these are checked here: EdDSA with a known `kid`, `nbf`/`exp` within the
 * leeway, `aud` absent or "gateway", `sub` holding the call, `rid` and `uid` present.
 */
import { type OdinJwk, verifyEd25519 } from '../../common/auth/index.ts';

export type AdminToken = { namespace: string; roomIds: string[]; userId: string; subjects: string[] };

export class AdminTokenError extends Error {}

const json = (part: string): Record<string, unknown> => {
  const value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new AdminTokenError('not a JSON object');
  return value as Record<string, unknown>;
};

const list = (v: unknown): string[] =>
  typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

export function verifyAdminToken(
  token: string,
  keys: readonly OdinJwk[],
  subject: string,
  now = Date.now(),
  leewayMs = 5000,
): AdminToken {
  const [h = '', p = '', s = ''] = token.split('.');
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
  if (!key) throw new AdminTokenError('token key id is unknown');
  const ok = verifyEd25519(
    Buffer.from(key.x, 'base64url'),
    new TextEncoder().encode(`${h}.${p}`),
    Buffer.from(s, 'base64url'),
  );
  if (!ok) throw new AdminTokenError('token signature is invalid');
  if (typeof claims.nbf === 'number' && claims.nbf * 1000 > now + leewayMs)
    throw new AdminTokenError('token not yet valid');
  if (typeof claims.exp === 'number' && claims.exp * 1000 < now - leewayMs)
    throw new AdminTokenError('token expired');
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
