/**
 * Who is calling the internal endpoints: each grid pod sends its own projected ServiceAccount
 * token (audience SUPERVISOR_TOKEN_AUDIENCE, bound to the pod); the operator asks the API server
 * with a TokenReview, which answers for a valid, unexpired token of a pod that still exists with
 * the pod's name and uid (`status.user.extra["authentication.kubernetes.io/pod-name"|"pod-uid"]`).
 * The supervisor then admits the caller only as that pod.
 *
 * Before a review, the token's claims are read unverified and must already name the URL's pod,
 * namespace and our audience: a stranger's garbage never costs an API call. Reviews are cached
 * (bounded, short-lived; membership is checked on every call anyway) and limited in flight.
 */
import { createHash } from 'node:crypto';

export type TokenReviewResult = {
  authenticated: boolean;
  audiences?: string[];
  username?: string;
  extra?: Record<string, string[]>;
  error?: string;
};

/** TokenReview (authentication.k8s.io/v1) for one token and audience. */
export type TokenReviewer = (token: string, audience: string) => Promise<TokenReviewResult>;

export type PodIdentity = { namespace: string; pod: string; uid: string };

export class IdentityError extends Error {
  readonly status: number;
  constructor(message: string, status = 401) {
    super(message);
    this.status = status;
  }
}

const POD_NAME = 'authentication.kubernetes.io/pod-name';
const POD_UID = 'authentication.kubernetes.io/pod-uid';
/** A ServiceAccount token is about 1 KiB; anything much larger is not one. */
const MAX_TOKEN_CHARS = 8 * 1024;

type Cached = { identity: PodIdentity; until: number };

export class PodAuthenticator {
  readonly #review: TokenReviewer;
  readonly #audience: string;
  readonly #now: () => number;
  readonly #cache = new Map<string, Cached>();
  readonly #cacheTtlMs: number;
  readonly #maxCached: number;
  readonly #maxInFlight: number;
  #inFlight = 0;
  /** TokenReviews sent (for tests and metrics). */
  reviews = 0;

  constructor(params: {
    review: TokenReviewer;
    audience: string;
    now?: () => number;
    cacheTtlMs?: number;
    maxCached?: number;
    maxInFlight?: number;
  }) {
    this.#review = params.review;
    this.#audience = params.audience;
    this.#now = params.now ?? Date.now;
    this.#cacheTtlMs = params.cacheTtlMs ?? 60_000;
    this.#maxCached = params.maxCached ?? 4096;
    this.#maxInFlight = params.maxInFlight ?? 16;
  }

  /** The pod the bearer token belongs to, which must be `pod` in `namespace`; IdentityError otherwise. */
  async authenticate(token: string, namespace: string, pod: string): Promise<PodIdentity> {
    const now = this.#now();
    const exp = precheck(token, this.#audience, namespace, pod, now);
    const digest = createHash('sha256').update(token).digest('base64url');
    const hit = this.#cache.get(digest);
    if (hit && hit.until > now) return hit.identity;
    if (hit) this.#cache.delete(digest);
    if (this.#inFlight >= this.#maxInFlight) throw new IdentityError('busy: too many token reviews', 503);
    this.#inFlight++;
    let result: TokenReviewResult;
    try {
      this.reviews++;
      result = await this.#review(token, this.#audience);
    } catch (error) {
      throw new IdentityError(`token review failed: ${(error as Error).message}`, 503);
    } finally {
      this.#inFlight--;
    }
    const identity = identityOf(result, this.#audience);
    if (identity.namespace !== namespace || identity.pod !== pod)
      throw new IdentityError('token is not the pod of the URL');
    if (this.#cache.size >= this.#maxCached) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(digest, { identity, until: Math.min(exp * 1000, now + this.#cacheTtlMs) });
    return identity;
  }
}

/** Unverified claims must name our audience, the pod and its namespace; returns `exp` (seconds). */
export function precheck(
  token: string,
  audience: string,
  namespace: string,
  pod: string,
  now: number,
): number {
  if (token.length > MAX_TOKEN_CHARS) throw new IdentityError('token too long');
  const [, payload] = token.split('.');
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new IdentityError('not a ServiceAccount token');
  }
  if (claims === null || typeof claims !== 'object') throw new IdentityError('not a ServiceAccount token');
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(audience)) throw new IdentityError(`token audience is not ${JSON.stringify(audience)}`);
  const k8s = claims['kubernetes.io'] as { namespace?: unknown; pod?: { name?: unknown } } | undefined;
  if (k8s?.namespace !== namespace || k8s?.pod?.name !== pod)
    throw new IdentityError('token is not bound to the pod of the URL');
  if (typeof claims.exp !== 'number' || claims.exp * 1000 <= now) throw new IdentityError('token expired');
  return claims.exp;
}

/** The pod a successful TokenReview names; IdentityError when it is not a pod-bound token for us. */
export function identityOf(result: TokenReviewResult, audience: string): PodIdentity {
  if (!result.authenticated)
    throw new IdentityError(`token refused${result.error ? `: ${result.error}` : ''}`);
  if (!(result.audiences ?? []).includes(audience))
    throw new IdentityError(`token audience is not ${JSON.stringify(audience)}`);
  const m = /^system:serviceaccount:([^:]+):[^:]+$/.exec(result.username ?? '');
  const pod = result.extra?.[POD_NAME]?.[0];
  const uid = result.extra?.[POD_UID]?.[0];
  if (!m || !pod || !uid) throw new IdentityError('token is not bound to a pod');
  return { namespace: m[1]!, pod, uid };
}
