import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdentityError, PodAuthenticator } from '../../operator/supervisor/podIdentity.ts';
import { AUDIENCE, FakeTokenIssuer } from './podTokens.ts';

test('TokenReviews in flight are capped: beyond the cap a caller gets 503 (retry), not a queue', async () => {
  const issuer = new FakeTokenIssuer();
  const release: (() => void)[] = [];
  const auth = new PodAuthenticator({
    audience: AUDIENCE,
    maxInFlight: 2,
    review: (token, audience) =>
      new Promise((resolve) => release.push(() => void issuer.review(token, audience).then(resolve))),
  });
  const pending = [0, 1].map((i) =>
    auth.authenticate(issuer.issue('games', `p${i}`, `u${i}`), 'games', `p${i}`),
  );
  await assert.rejects(auth.authenticate(issuer.issue('games', 'p2', 'u2'), 'games', 'p2'), (e) => {
    assert.ok(e instanceof IdentityError);
    assert.equal(e.status, 503);
    return true;
  });
  for (const r of release) r();
  assert.deepEqual(
    (await Promise.all(pending)).map((i) => i.pod),
    ['p0', 'p1'],
  );
});

test("a cached review lasts at most the TTL and never beyond the token's exp", async () => {
  const issuer = new FakeTokenIssuer();
  let now = Date.now();
  const auth = new PodAuthenticator({
    audience: AUDIENCE,
    review: issuer.review,
    now: () => now,
    cacheTtlMs: 60_000,
  });
  const token = issuer.issue('games', 'p1', 'u1');
  await auth.authenticate(token, 'games', 'p1');
  await auth.authenticate(token, 'games', 'p1');
  assert.equal(auth.reviews, 1, 'cached');
  now += 61_000;
  await auth.authenticate(token, 'games', 'p1');
  assert.equal(auth.reviews, 2, 'reviewed again after the TTL');
  // A token about to expire: refused once exp has passed, cached or not.
  const short = issuer.issue('games', 'p1', 'u1', { expSeconds: Math.floor(now / 1000) + 10 });
  await auth.authenticate(short, 'games', 'p1');
  now += 11_000;
  await assert.rejects(auth.authenticate(short, 'games', 'p1'), /expired/);
});
