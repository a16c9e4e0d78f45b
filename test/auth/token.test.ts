import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TokenGenerator } from '@4players/odin-tokens';
import { accessKeyToJwk, generateAccessKey, signToken } from '../../common/auth/index.ts';
import { vectors, year3000 } from './vectors.ts';

const decode = (segment: string) => JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));

describe('signToken', () => {
  for (const vector of vectors.tokens) {
    const { rid, uid, aud } = vector.claims;
    test(`reproduces the vector token for rid ${JSON.stringify(rid)}${aud ? ` aud ${aud}` : ''} byte for byte`, async () => {
      const token = await signToken(vector.signed_with, { rid, uid }, { now: year3000, audience: aud });
      assert.equal(token, vector.token);
    });
  }

  test('signs with a JWK that has d exactly as with its access key', async () => {
    const key = vectors.access_keys[1]!.access_key;
    const claims = { rid: 'r', uid: 'u' };
    assert.equal(
      await signToken(accessKeyToJwk(key), claims, { now: year3000 }),
      await signToken(key, claims, { now: year3000 }),
    );
  });

  test('header is {"alg":"EdDSA","kid"} with no typ', async () => {
    const token = await signToken(vectors.access_keys[0]!.access_key, { rid: 'r', uid: 'u' });
    assert.deepEqual(decode(token.split('.')[0]!), { alg: 'EdDSA', kid: vectors.access_keys[0]!.kid });
  });

  test('exp is nbf + 300 by default and nbf + lifetimeSeconds when given', async () => {
    const key = generateAccessKey();
    const a = decode((await signToken(key, { rid: 'r', uid: 'u' }, { now: 1_000_999 })).split('.')[1]!);
    assert.equal(a.nbf, 1000);
    assert.equal(a.exp, 1300);
    const b = decode((await signToken(key, { rid: 'r', uid: 'u' }, { lifetimeSeconds: 60 })).split('.')[1]!);
    assert.equal(b.exp - b.nbf, 60);
  });

  test('a lifetime that is not a positive whole number is refused', async () => {
    await assert.rejects(
      signToken(generateAccessKey(), { rid: 'r', uid: 'u' }, { lifetimeSeconds: 0 }),
      RangeError,
    );
    await assert.rejects(
      signToken(generateAccessKey(), { rid: 'r', uid: 'u' }, { lifetimeSeconds: 1.5 }),
      RangeError,
    );
  });

  test('extra claims (nsp, adr) sit between aud and exp', async () => {
    const token = await signToken(
      generateAccessKey(),
      { rid: 'r', uid: 'u', nsp: 'n', adr: 'host:4433' },
      { audience: 'sfu', now: year3000 },
    );
    assert.deepEqual(Object.keys(decode(token.split('.')[1]!)), [
      'rid',
      'uid',
      'sub',
      'aud',
      'nsp',
      'adr',
      'exp',
      'nbf',
    ]);
  });

  test('a JWK without d cannot sign', async () => {
    const { d: _d, ...publicOnly } = accessKeyToJwk(generateAccessKey());
    await assert.rejects(signToken(publicOnly, { rid: 'r', uid: 'u' }), { code: 'invalid_key' });
  });
});

describe('signToken against the real @4players/odin-tokens', () => {
  const cases: [
    string,
    string | string[],
    { customer?: string; audience?: 'sfu' | 'gateway'; lifetime?: number; subject?: string },
  ][] = [
    ['one room', 'room', {}],
    ['several rooms', ['a', 'b', 'c'], {}],
    ['aud sfu', 'room', { audience: 'sfu' }],
    ['aud gateway', 'room', { audience: 'gateway' }],
    ['a customer', 'room', { customer: 'acme' }],
    ['a custom lifetime', 'room', { lifetime: 3600 }],
    ['a unicode user and room', 'Raum ü 🎧', {}],
    ['sub login', 'room', { subject: 'login' }],
  ];
  for (const [what, rid, options] of cases) {
    test(`matches its token byte for byte for ${what}`, async (t) => {
      t.mock.method(Date, 'now', () => 1_750_000_000_123);
      const key = generateAccessKey();
      const theirs = new TokenGenerator(key).createToken(rid, 'user ✓', options);
      const ours = await signToken(
        key,
        { rid, uid: 'user ✓', cid: options.customer, sub: options.subject },
        { audience: options.audience, lifetimeSeconds: options.lifetime },
      );
      assert.equal(ours, theirs);
    });
  }
});
