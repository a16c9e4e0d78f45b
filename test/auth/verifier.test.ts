import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { TokenGenerator } from '@4players/odin-tokens';
import { CompactSign, importJWK } from 'jose';
import {
  AuthError,
  accessKeyToJwk,
  generateAccessKey,
  type OdinJwk,
  publicJwk,
  signEd25519,
  signToken,
  TokenError,
  type TokenErrorCode,
  TokenVerifier,
  type TokenVerifierParams,
} from '../../common/auth/index.ts';
import { vectors, year3000 } from './vectors.ts';

const vectorKey = vectors.access_keys[0]!.access_key;
const vectorJwk = accessKeyToJwk(vectorKey);
const leewayMs = 5000;
const now = Date.UTC(2030, 0, 1);
const nowSeconds = now / 1000;

function verifier(overrides: Partial<TokenVerifierParams> = {}) {
  return new TokenVerifier({
    keys: [publicJwk(vectorJwk)],
    allowUnsigned: false,
    leewayMs,
    now: () => now,
    ...overrides,
  });
}

const b64url = (text: string | Uint8Array) => Buffer.from(text).toString('base64url');

/** A token with any header and claims, Ed25519-signed (jose) with `jwk`. */
async function rawToken(claims: unknown, header: Record<string, unknown> = {}, jwk: OdinJwk = vectorJwk) {
  const payload = typeof claims === 'string' ? claims : JSON.stringify(claims);
  return new CompactSign(new TextEncoder().encode(payload))
    .setProtectedHeader({ alg: 'EdDSA', kid: jwk.kid, ...header })
    .sign(await importJWK(jwk, 'EdDSA'));
}

const validClaims = { rid: 'room', uid: 'user', nbf: nowSeconds, exp: nowSeconds + 300 };

/** Asserts a refusal with `code`, and that the message does not echo the token. */
async function refuses(promise: Promise<unknown>, code: TokenErrorCode, token?: string, pattern?: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof TokenError, `expected a TokenError, got ${String(error)}`);
    assert.ok(error instanceof AuthError);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    if (token) {
      for (const part of token.split('.')) {
        if (part.length > 8) assert.ok(!error.message.includes(part), 'message echoes the token');
      }
    }
    return true;
  });
}

describe('accepting tokens', () => {
  for (const vector of vectors.tokens.filter((v) => v.claims.aud !== 'gateway')) {
    test(`the vector token ${JSON.stringify(vector.claims)} verifies (at an injected year-3000 clock)`, async () => {
      const verified = await verifier({ now: () => year3000 + 1000 }).verify(vector.token);
      assert.equal(verified.userId, 'test-user');
      assert.deepEqual(verified.roomIds, [vector.claims.rid].flat());
      assert.equal(verified.keyId, vectors.access_keys[0]!.kid);
      assert.equal(verified.notBefore, year3000);
      assert.equal(verified.expiresAt, year3000 + 300_000);
      assert.deepEqual(verified.subjects, ['connect']);
      assert.equal(verified.namespace, '');
      assert.deepEqual(verified.claims, vector.claims);
    });
  }

  const generated: [
    string,
    string | string[],
    { customer?: string; audience?: 'sfu' | 'gateway'; lifetime?: number },
  ][] = [
    ['a string rid', 'room', {}],
    ['an array rid', ['one', 'two'], {}],
    ['aud sfu', 'room', { audience: 'sfu' }],
    ['a customer', 'room', { customer: 'acme' }],
    ['a one-hour lifetime', 'room', { lifetime: 3600 }],
  ];
  for (const [what, rid, options] of generated) {
    test(`a token minted by @4players/odin-tokens with ${what} verifies`, async () => {
      const key = generateAccessKey();
      const token = new TokenGenerator(key).createToken(rid, 'player', options);
      const verified = await new TokenVerifier({
        keys: [publicJwk(accessKeyToJwk(key))],
        allowUnsigned: false,
        leewayMs,
      }).verify(token);
      assert.equal(verified.userId, 'player');
      assert.deepEqual(verified.roomIds, [rid].flat());
      assert.equal(verified.customerId, options.customer);
      assert.equal(verified.namespace, options.customer ?? '');
      assert.equal(verified.expiresAt! - verified.notBefore!, (options.lifetime ?? 300) * 1000);
      if (options.audience) assert.deepEqual(verified.audience, [options.audience]);
    });
  }

  test('a token from our signToken verifies, keys configured with d', async () => {
    const key = generateAccessKey();
    const token = await signToken(
      key,
      { rid: 'r', uid: 'u', nsp: 'ns', cid: 'c', adr: 'h:1' },
      { audience: 'sfu' },
    );
    const verified = await new TokenVerifier({
      keys: [accessKeyToJwk(key)],
      allowUnsigned: false,
      leewayMs,
    }).verify(token);
    assert.equal(verified.namespace, 'ns');
    assert.equal(verified.customerId, 'c');
    assert.equal(verified.address, 'h:1');
  });

  test('the key is picked by kid among several', async () => {
    const other = accessKeyToJwk(generateAccessKey());
    const token = await rawToken(validClaims, {}, other);
    const verified = await verifier({ keys: [publicJwk(vectorJwk), publicJwk(other)] }).verify(token);
    assert.equal(verified.keyId, other.kid);
  });

  test('sub "login", absent sub and a list holding "connect" all allow joining', async () => {
    for (const sub of ['login', undefined, ['connect', 'roomclose']]) {
      const verified = await verifier().verify(await rawToken({ ...validClaims, sub }));
      assert.deepEqual(verified.subjects, sub === undefined ? [] : [sub].flat());
    }
  });

  test('aud as a list containing "sfu" is accepted', async () => {
    const verified = await verifier().verify(await rawToken({ ...validClaims, aud: ['gateway', 'sfu'] }));
    assert.deepEqual(verified.audience, ['gateway', 'sfu']);
  });

  test('a token without nbf is accepted (only exp is required)', async () => {
    const verified = await verifier().verify(await rawToken({ rid: 'r', uid: 'u', exp: nowSeconds + 300 }));
    assert.equal(verified.notBefore, undefined);
    assert.equal(verified.expiresAt, (nowSeconds + 300) * 1000);
  });

  test('a token valid for 365 days is accepted', async () => {
    await verifier().verify(await rawToken({ ...validClaims, exp: nowSeconds + 365 * 86_400 }));
  });

  test('exp just past but within the leeway is accepted', async () => {
    const token = await rawToken({ ...validClaims, exp: nowSeconds });
    await verifier({ now: () => now + leewayMs - 1 }).verify(token);
  });

  test('nbf ahead but within the leeway is accepted', async () => {
    const token = await rawToken({ ...validClaims, nbf: nowSeconds + 4 });
    await verifier().verify(token);
  });

  test('alg none is accepted with allowUnsigned, without a kid or signature', async () => {
    const token = `${b64url('{"alg":"none"}')}.${b64url(JSON.stringify(validClaims))}.`;
    const verified = await verifier({ allowUnsigned: true }).verify(token);
    assert.equal(verified.userId, 'user');
    assert.equal(verified.keyId, undefined);
  });

  test('signed tokens still verify with allowUnsigned on', async () => {
    await verifier({ allowUnsigned: true }).verify(await rawToken(validClaims));
  });
});

describe('refusing tokens, one code per fault', () => {
  test('a 100 KB token is refused with token_too_large before parsing', async () => {
    const token = `${'a'.repeat(100 * 1024)}`;
    await refuses(verifier().verify(token), 'token_too_large');
  });

  test('maxTokenBytes counts UTF-8 bytes', async () => {
    await refuses(verifier({ maxTokenBytes: 10 }).verify('ééééééé'), 'token_too_large');
  });

  test('a token with two segments is malformed', async () => {
    await refuses(verifier().verify('eyJhbGciOiJFZERTQSJ9.e30'), 'malformed', undefined, /3 dot-separated/);
  });

  test('a JWE-shaped token (5 segments) is malformed', async () => {
    await refuses(verifier().verify('a.b.c.d.e'), 'malformed');
  });

  test('a header that is not base64url is malformed', async () => {
    const token = await rawToken(validClaims);
    await refuses(
      verifier().verify(`${token.slice(0, 5)}+${token.slice(6)}`),
      'malformed',
      token,
      /base64url/,
    );
  });

  test('a header that is not JSON is malformed', async () => {
    await refuses(
      verifier().verify(`${b64url('{alg:EdDSA')}.${b64url('{}')}.`),
      'malformed',
      undefined,
      /JSON/,
    );
  });

  test('a header that is a JSON array is malformed', async () => {
    await refuses(
      verifier().verify(`${b64url('["EdDSA"]')}.${b64url('{}')}.`),
      'malformed',
      undefined,
      /object/,
    );
  });

  test('signed claims that are not JSON are malformed', async () => {
    const token = await rawToken('not json');
    await refuses(verifier().verify(token), 'malformed', token, /claims/);
  });

  test('a padded or non-canonical base64url segment is malformed', async () => {
    const token = await rawToken(validClaims);
    const [h, p, s] = token.split('.');
    await refuses(verifier().verify(`${h}.${p}.${s}==`), 'malformed', token);
  });

  test('a token with a crit extension this server does not know is malformed', async () => {
    const input = `${b64url(JSON.stringify({ alg: 'EdDSA', kid: vectorJwk.kid, crit: ['exp'], exp: 1 }))}.${b64url(JSON.stringify(validClaims))}`;
    const seed = Buffer.from(vectorJwk.d!, 'base64url');
    const token = `${input}.${b64url(signEd25519(seed, new TextEncoder().encode(input)))}`;
    await refuses(verifier().verify(token), 'malformed', token);
  });

  test('an HS256 token keyed with the public key is refused as unsupported_algorithm (algorithm confusion)', async () => {
    const publicKey = Buffer.from(vectorJwk.x, 'base64url');
    const input = `${b64url(JSON.stringify({ alg: 'HS256', kid: vectorJwk.kid }))}.${b64url(JSON.stringify(validClaims))}`;
    for (const secret of [publicKey, Buffer.from(vectorJwk.x)]) {
      const token = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
      await refuses(verifier().verify(token), 'unsupported_algorithm', token, /"HS256"/);
    }
  });

  test('an RS256 header is refused as unsupported_algorithm', async () => {
    const token = `${b64url('{"alg":"RS256","kid":"AQ7aVmK+pI1l"}')}.${b64url(JSON.stringify(validClaims))}.AAAA`;
    await refuses(verifier().verify(token), 'unsupported_algorithm', token);
  });

  test('a header without alg is refused as unsupported_algorithm', async () => {
    await refuses(verifier().verify(`${b64url('{"kid":"x"}')}.${b64url('{}')}.`), 'unsupported_algorithm');
  });

  test('alg none is refused with unsigned_not_allowed when allowUnsigned is off', async () => {
    const token = `${b64url('{"alg":"none"}')}.${b64url(JSON.stringify(validClaims))}.`;
    await refuses(verifier().verify(token), 'unsigned_not_allowed', token);
  });

  test('alg none carrying a signature is malformed even with allowUnsigned', async () => {
    const signed = await rawToken(validClaims);
    const token = `${b64url('{"alg":"none"}')}.${signed.split('.')[1]}.${signed.split('.')[2]}`;
    await refuses(verifier({ allowUnsigned: true }).verify(token), 'malformed', token);
  });

  test('a kid not among the configured keys is refused with unknown_key', async () => {
    const stranger = accessKeyToJwk(generateAccessKey());
    const token = await rawToken(validClaims, {}, stranger);
    await refuses(verifier().verify(token), 'unknown_key', token, /authorization\.keys/);
  });

  test('a token without kid is refused with unknown_key', async () => {
    const token = await rawToken(validClaims, { kid: undefined });
    await refuses(verifier().verify(token), 'unknown_key', token, /no kid/);
  });

  test('a token whose claims were changed after signing is refused with bad_signature', async () => {
    const token = await rawToken(validClaims);
    const [h, , s] = token.split('.');
    const tampered = `${h}.${b64url(JSON.stringify({ ...validClaims, uid: 'admin' }))}.${s}`;
    await refuses(verifier().verify(tampered), 'bad_signature', tampered);
  });

  test('a token signed by another key under a configured kid is refused with bad_signature', async () => {
    const impostor = { ...accessKeyToJwk(generateAccessKey()), kid: vectorJwk.kid };
    const token = await rawToken(validClaims, {}, impostor);
    await refuses(verifier().verify(token), 'bad_signature', token);
  });

  test('a truncated signature is refused with bad_signature', async () => {
    const [h, p, s] = (await rawToken(validClaims)).split('.');
    const truncated = `${h}.${p}.${b64url(Buffer.from(s!, 'base64url').subarray(0, 63))}`;
    await refuses(verifier().verify(truncated), 'bad_signature');
  });

  test('exp beyond the leeway is refused with expired', async () => {
    const token = await rawToken({ ...validClaims, exp: nowSeconds });
    await refuses(verifier({ now: () => now + leewayMs }).verify(token), 'expired', token);
  });

  test('a vector token is expired after year 3000 + 300 s + leeway', async () => {
    await refuses(
      verifier({ now: () => year3000 + 300_000 + leewayMs }).verify(vectors.tokens[0]!.token),
      'expired',
    );
  });

  test('nbf beyond the leeway is refused with not_yet_valid (the vectors, verified today)', async () => {
    await refuses(verifier({ now: Date.now }).verify(vectors.tokens[0]!.token), 'not_yet_valid');
    const token = await rawToken({ ...validClaims, nbf: nowSeconds + 6 });
    await refuses(verifier().verify(token), 'not_yet_valid', token);
  });

  test('a token for aud gateway is refused with wrong_audience (vector)', async () => {
    const vector = vectors.tokens.find((v) => v.claims.aud === 'gateway')!;
    await refuses(verifier({ now: () => year3000 }).verify(vector.token), 'wrong_audience', vector.token);
  });

  test('aud ["gateway"] is refused with wrong_audience', async () => {
    await refuses(verifier().verify(await rawToken({ ...validClaims, aud: ['gateway'] })), 'wrong_audience');
  });

  test('a caller that accepts the gateway audience (standalone Connect) verifies a gateway token', async () => {
    const vector = vectors.tokens.find((v) => v.claims.aud === 'gateway')!;
    const verified = await verifier({ now: () => year3000 }).verify(vector.token, {
      audiences: ['gateway', 'sfu'],
    });
    assert.deepEqual(verified.audience, ['gateway']);
    const sfuOnly = await rawToken({ ...validClaims, aud: 'sfu' });
    await refuses(verifier().verify(sfuOnly, { audiences: ['gateway'] }), 'wrong_audience', sfuOnly);
  });

  test('a token without exp is refused with missing_expiry (it would never expire)', async () => {
    const { exp: _, ...claims } = validClaims;
    const token = await rawToken(claims);
    await refuses(verifier().verify(token), 'missing_expiry', token, /no exp claim/);
  });

  test('exp = 1e308 or more than a year after the start is refused with invalid_claim', async () => {
    for (const exp of [1e308, nowSeconds + 367 * 86_400, 253402300799]) {
      const token = await rawToken({ ...validClaims, exp });
      await refuses(verifier().verify(token), 'invalid_claim', token, /exp is more than 366 days/);
    }
  });

  test('a token without uid is refused with missing_claim naming uid', async () => {
    const { uid: _uid, ...claims } = validClaims;
    await refuses(verifier().verify(await rawToken(claims)), 'missing_claim', undefined, /uid/);
  });

  test('a token without rid is refused with missing_claim naming rid', async () => {
    const { rid: _rid, ...claims } = validClaims;
    await refuses(verifier().verify(await rawToken(claims)), 'missing_claim', undefined, /rid/);
  });

  const invalid: [string, Record<string, unknown>, RegExp][] = [
    ['rid a number', { rid: 7 }, /rid/],
    ['rid a list with a number', { rid: ['a', 1] }, /rid/],
    ['rid an empty list', { rid: [] }, /empty/],
    ['uid a number', { uid: 1 }, /uid/],
    ['cid a number', { cid: 1 }, /cid/],
    ['nsp a list', { nsp: ['a'] }, /nsp/],
    ['exp a string', { exp: '2030' }, /exp/],
    ['aud a number', { aud: 1 }, /aud/],
    ['sub a pure admin subject', { sub: 'roomclose' }, /sub/],
    ['sub only admin subjects', { sub: ['roomupdate', 'roombanclient', 'roomsendmessage'] }, /sub/],
    ['sub unknown', { sub: 'anything' }, /sub/],
  ];
  for (const [what, change, pattern] of invalid) {
    test(`a token with ${what} is refused with invalid_claim`, async () => {
      await refuses(
        verifier().verify(await rawToken({ ...validClaims, ...change })),
        'invalid_claim',
        undefined,
        pattern,
      );
    });
  }

  test('a non-string input is malformed, not a crash', async () => {
    await refuses(verifier().verify(42 as unknown as string), 'malformed');
  });
});

describe('configured keys', () => {
  test('a key with d is offered for signing', () => {
    const v = verifier({ keys: [publicJwk(vectorJwk), accessKeyToJwk(vectors.access_keys[1]!.access_key)] });
    assert.ok(v.hasSigningKey());
    assert.equal(v.signingKey()?.kid, vectors.access_keys[1]!.jwk!.kid);
    assert.equal(verifier().hasSigningKey(), false);
    assert.equal(verifier().signingKey(), undefined);
  });

  test('a token signed with signingKey() verifies (reconnect tokens)', async () => {
    const v = verifier({ keys: [accessKeyToJwk(generateAccessKey())] });
    const token = await signToken(v.signingKey()!, { rid: 'r', uid: 'u' }, { now });
    assert.equal((await v.verify(token)).userId, 'u');
  });

  test('a broken key is refused at construction with invalid_key', () => {
    assert.throws(() => verifier({ keys: [{ ...vectorJwk, x: 'short' }] }), { code: 'invalid_key' });
  });

  test('a d that does not match x is refused at construction', () => {
    const other = accessKeyToJwk(generateAccessKey());
    assert.throws(() => verifier({ keys: [{ ...vectorJwk, d: other.d! }] }), { code: 'invalid_key' });
  });

  test('two different keys under one kid are refused; the same key twice is fine', () => {
    const other = accessKeyToJwk(generateAccessKey());
    assert.throws(() => verifier({ keys: [vectorJwk, { ...other, kid: vectorJwk.kid }] }), {
      code: 'invalid_key',
    });
    assert.doesNotThrow(() => verifier({ keys: [vectorJwk, publicJwk(vectorJwk)] }));
  });

  test('a negative leeway is refused', () => {
    assert.throws(() => verifier({ leewayMs: -1 }), RangeError);
  });
});
