import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'smol-toml';
import {
  AuthError,
  accessKeyToJwk,
  checkJwk,
  deriveServerKey,
  generateAccessKey,
  jwkToTomlSection,
  publicJwk,
} from '../../common/auth/index.ts';
import { vectors } from './vectors.ts';

const readme = vectors.access_keys.find((v) => v.jwk?.kid === 'Afkwfu4BVHDh')!;

describe('JWKs for [[authorization.keys]]', () => {
  test('the odin-server README key comes from its access key', () => {
    assert.deepEqual(accessKeyToJwk(readme.access_key), readme.jwk);
  });

  test('the TOML section parses back to the same JWK under authorization.keys', () => {
    const jwk = accessKeyToJwk(generateAccessKey());
    const text = jwkToTomlSection(jwk);
    assert.match(text, /^\[\[authorization\.keys\]\]\n/);
    const parsed = parse(text) as { authorization: { keys: unknown[] } };
    assert.deepEqual({ ...(parsed.authorization.keys[0] as object) }, jwk);
  });

  test('a public JWK has no d and prints no d line', () => {
    const jwk = publicJwk(accessKeyToJwk(readme.access_key));
    assert.equal(jwk.d, undefined);
    assert.doesNotMatch(jwkToTomlSection(jwk), /^d = /m);
  });

  test('checkJwk accepts a key with a matching d', () => {
    assert.equal(checkJwk(readme.jwk).seed?.length, 32);
  });

  const bad: [string, unknown, RegExp][] = [
    ['no kid', { kty: 'OKP', crv: 'Ed25519', x: readme.jwk!.x }, /no kid/],
    ['an RSA key', { ...readme.jwk, kty: 'RSA' }, /only kty = "OKP"/],
    ['an X25519 key', { ...readme.jwk, crv: 'X25519' }, /crv = "Ed25519"/],
    ['a short x', { ...readme.jwk, x: 'AAAA' }, /x must be a 32-byte/],
    [
      'x in standard base64',
      { ...readme.jwk, x: Buffer.from(readme.jwk!.x, 'base64url').toString('base64') },
      /x must/,
    ],
    ['a d of another key', { ...readme.jwk, d: vectors.access_keys[2]!.jwk!.d }, /d does not belong to x/],
  ];
  for (const [what, jwk, pattern] of bad) {
    test(`checkJwk refuses ${what} with invalid_key`, () => {
      assert.throws(
        () => checkJwk(jwk),
        (error: unknown) =>
          error instanceof AuthError && error.code === 'invalid_key' && pattern.test(error.message),
      );
    });
  }

  test('a refused d is never echoed', () => {
    const d = vectors.access_keys[2]!.jwk!.d!;
    assert.throws(
      () => checkJwk({ ...readme.jwk, d }),
      (error: unknown) => !(error as Error).message.includes(d),
    );
  });
});

describe('gateway-derived server keys (ODIN-PROTOCOL.md section 5)', () => {
  test('reproduce the gateway vector: HKDF-SHA512 of the decoded master key, SHA-256, kid prefix 0x02', () => {
    const v = vectors.gateway_derived_server_key;
    const jwk = deriveServerKey(Buffer.from(v.master_key_base64, 'base64'), v.hostname);
    assert.deepEqual(jwk, { kid: v.kid, kty: 'OKP', crv: 'Ed25519', x: v.x, d: v.d });
    assert.equal(Buffer.from(jwk.kid, 'base64')[0], 2);
  });

  test('differ per hostname', () => {
    const master = new TextEncoder().encode('master');
    assert.notEqual(deriveServerKey(master, 'a:1').x, deriveServerKey(master, 'b:1').x);
  });

  test('are valid signing keys', () => {
    assert.ok(checkJwk(deriveServerKey(new TextEncoder().encode('m'), 'h')).seed);
  });
});
