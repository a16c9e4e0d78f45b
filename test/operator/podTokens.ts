/**
 * Stand-ins for projected ServiceAccount tokens and the TokenReview that checks them, for unit
 * tests of the supervisor's pod authentication (the real API server does this in e2e). A token
 * here is a JWT-shaped string with the claims the API server puts in a pod-bound token; the fake
 * review accepts exactly the tokens `issue` made, as the API server accepts only its own.
 */
import {
  PodAuthenticator,
  type TokenReviewer,
  type TokenReviewResult,
} from '../../operator/supervisor/podIdentity.ts';

export const AUDIENCE = 'odin-grid.io/supervisor';

export class FakeTokenIssuer {
  readonly issued = new Map<string, { namespace: string; pod: string; uid: string; audience: string }>();
  readonly revoked = new Set<string>();
  reviews = 0;

  issue(
    namespace: string,
    pod: string,
    uid: string,
    options: { audience?: string; expSeconds?: number } = {},
  ) {
    const audience = options.audience ?? AUDIENCE;
    const claims = {
      aud: [audience],
      exp: options.expSeconds ?? Math.floor(Date.now() / 1000) + 3600,
      iss: 'https://kubernetes.default.svc.cluster.local',
      'kubernetes.io': {
        namespace,
        pod: { name: pod, uid },
        serviceaccount: { name: 'default', uid: 'sa-uid' },
      },
      sub: `system:serviceaccount:${namespace}:default`,
    };
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const token = `${b64({ alg: 'RS256', kid: 'k' })}.${b64(claims)}.${b64(`sig-${this.issued.size}`)}`;
    this.issued.set(token, { namespace, pod, uid, audience });
    return token;
  }

  readonly review: TokenReviewer = async (token, audience) => {
    this.reviews++;
    const t = this.issued.get(token);
    if (!t || this.revoked.has(token) || t.audience !== audience)
      return { authenticated: false, error: 'invalid bearer token' } satisfies TokenReviewResult;
    return {
      authenticated: true,
      audiences: [audience],
      username: `system:serviceaccount:${t.namespace}:default`,
      extra: {
        'authentication.kubernetes.io/pod-name': [t.pod],
        'authentication.kubernetes.io/pod-uid': [t.uid],
      },
    };
  };
}

/** For tests that never call the internal endpoints: every pod token is refused. */
export const noPods = new PodAuthenticator({
  audience: AUDIENCE,
  review: async () => ({ authenticated: false, error: 'no pods in this test' }),
});
