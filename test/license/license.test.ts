import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { accessKeyToJwk, generateAccessKey, publicJwk } from '../../common/auth/index.ts';
import {
  canonicalLicenseBytes,
  LicenseError,
  type LicenseErrorCode,
  type LicenseFields,
  loadLicenseFile,
  parseLicenseToml,
  signLicense,
  verifyLicense,
} from '../../common/license/index.ts';

const issuerKey = generateAccessKey();
const trusted = [publicJwk(accessKeyToJwk(issuerKey))];
const validUntil = new Date('2031-06-30T12:00:00Z');
const fields: LicenseFields = {
  issuer: 'ODIN Grid test issuer',
  licensee: 'Example Games "Studio" ✓',
  serialNumber: 'EG-0001',
  validUntil,
};
const now = Date.UTC(2030, 0, 1);

function refusal(code: LicenseErrorCode, pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof LicenseError, `expected a LicenseError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

const verify = (text: string, keys = trusted, at = now) =>
  verifyLicense(parseLicenseToml(text, 'license.toml'), keys, at);

describe('the canonical encoding (odin-grid-license-v1)', () => {
  test('is the UTF-8 JSON array of scheme, issuer, licensee, serial_number and valid_until in UTC', () => {
    const bytes = canonicalLicenseBytes({
      issuer: 'I',
      licensee: 'L "q"',
      serialNumber: 'S-1',
      validUntil: new Date('2027-01-01T02:00:00+02:00'),
    });
    assert.equal(
      new TextDecoder().decode(bytes),
      '["odin-grid-license-v1","I","L \\"q\\"","S-1","2027-01-01T00:00:00.000Z"]',
    );
  });

  test('writes an absent valid_until as null', () => {
    assert.equal(
      new TextDecoder().decode(canonicalLicenseBytes({ licensee: 'L' })),
      '["odin-grid-license-v1",null,"L",null,null]',
    );
  });

  test('writes absent fields as null, distinct from empty strings', () => {
    const absent = canonicalLicenseBytes({ validUntil: new Date(0) });
    const empty = canonicalLicenseBytes({
      issuer: '',
      licensee: '',
      serialNumber: '',
      validUntil: new Date(0),
    });
    assert.equal(
      new TextDecoder().decode(absent),
      '["odin-grid-license-v1",null,null,null,"1970-01-01T00:00:00.000Z"]',
    );
    assert.notDeepEqual(absent, empty);
  });

  test('cannot be confused by moving text between fields', () => {
    const a = canonicalLicenseBytes({ issuer: 'ab', licensee: 'c', validUntil: new Date(0) });
    const b = canonicalLicenseBytes({ issuer: 'a', licensee: 'bc', validUntil: new Date(0) });
    assert.notDeepEqual(a, b);
  });
});

describe('signing and verifying a licence', () => {
  test('a signed licence verifies and reports its fields and time left', () => {
    const text = signLicense(fields, issuerKey);
    const verified = verify(text);
    assert.equal(verified.issuer, fields.issuer);
    assert.equal(verified.licensee, fields.licensee);
    assert.equal(verified.serialNumber, 'EG-0001');
    assert.equal(verified.validUntil?.toISOString(), '2031-06-30T12:00:00.000Z');
    assert.equal(verified.msUntilExpiry, validUntil.getTime() - now);
    assert.equal(verified.keyId, trusted[0]!.kid);
  });

  test('the file holds [license] with the five keys and a readable valid_until', () => {
    const text = signLicense(fields, issuerKey);
    assert.match(text, /^\[license\]$/m);
    assert.match(text, /^valid_until = 2031-06-30T12:00:00\.000Z$/m);
    assert.match(text, /^signature = "ed25519:[A-Za-z0-9+/]{12}:[A-Za-z0-9_-]{86}"$/m);
  });

  test('a JWK with d signs like its access key', () => {
    assert.equal(signLicense(fields, accessKeyToJwk(issuerKey)), signLicense(fields, issuerKey));
  });

  test('only signature is required: without valid_until the licence never expires', () => {
    assert.equal(verify(signLicense({ validUntil }, issuerKey)).licensee, undefined);
    const text = signLicense({ licensee: 'L' }, issuerKey);
    assert.doesNotMatch(text, /valid_until/);
    const verified = verifyLicense(parseLicenseToml(text, 'l.toml'), trusted, Date.UTC(2999, 0, 1));
    assert.equal(verified.validUntil, undefined);
    assert.equal(verified.msUntilExpiry, undefined);
  });

  test('the signature covers valid_until: adding one to a licence without it is refused', () => {
    const text = signLicense({ licensee: 'L' }, issuerKey).replace(
      '[license]',
      '[license]\nvalid_until = 2040-01-01T00:00:00Z',
    );
    assert.throws(() => verify(text), refusal('bad_signature'));
  });

  test('a hand-written valid_until with an offset verifies against the same instant', () => {
    const text = signLicense(fields, issuerKey).replace(
      '2031-06-30T12:00:00.000Z',
      '2031-06-30T14:00:00+02:00',
    );
    assert.equal(verify(text).validUntil?.getTime(), validUntil.getTime());
  });

  test('now may be given as a Date', () => {
    const verified = verifyLicense(
      parseLicenseToml(signLicense(fields, issuerKey), 'l.toml'),
      trusted,
      new Date(now),
    );
    assert.equal(verified.msUntilExpiry, validUntil.getTime() - now);
  });

  test('one of several trusted keys is picked by kid', () => {
    const other = publicJwk(accessKeyToJwk(generateAccessKey()));
    assert.ok(verify(signLicense(fields, issuerKey), [other, ...trusted]));
  });
});

describe('refusing a licence', () => {
  test('a changed licensee is refused with bad_signature, at the signature line', () => {
    const text = signLicense(fields, issuerKey).replace('Example Games', 'Other Games');
    const line = text.split('\n').findIndex((l) => l.startsWith('signature')) + 1;
    assert.throws(
      () => verify(text),
      refusal('bad_signature', new RegExp(`^license\\.toml:${line}: .*changed`)),
    );
  });

  test('an extended valid_until is refused with bad_signature', () => {
    const text = signLicense(fields, issuerKey).replace('2031-06-30', '2099-06-30');
    assert.throws(() => verify(text), refusal('bad_signature'));
  });

  test('a removed optional field is refused with bad_signature', () => {
    const text = signLicense(fields, issuerKey).replace(/^serial_number = .*$/m, '');
    assert.throws(() => verify(text), refusal('bad_signature'));
  });

  test('a licence signed by an unknown key is refused with untrusted_issuer', () => {
    const text = signLicense(fields, generateAccessKey());
    assert.throws(() => verify(text), refusal('untrusted_issuer', /not a trusted licence issuer key/));
  });

  test('a licence signed by a key impersonating a trusted kid is refused with bad_signature', () => {
    const impostor = { ...accessKeyToJwk(generateAccessKey()), kid: trusted[0]!.kid };
    assert.throws(() => verify(signLicense(fields, impostor)), refusal('bad_signature'));
  });

  test('a licence without signature is refused with missing_signature at the [license] line', () => {
    const text = '# comment\n\n[license]\nlicensee = "x"\nvalid_until = 2031-01-01T00:00:00Z\n';
    assert.throws(() => verify(text), refusal('missing_signature', /^license\.toml:3: .*grid license sign/));
  });

  test('a licence past valid_until is refused with expired', () => {
    const text = signLicense(fields, issuerKey);
    assert.throws(
      () => verify(text, trusted, validUntil.getTime()),
      refusal('expired', /EG-0001.*2031-06-30/),
    );
    assert.throws(() => verify(text, trusted, validUntil.getTime() + 1), refusal('expired'));
  });

  test('a licence both expired and tampered reports the tampering', () => {
    const text = signLicense(fields, issuerKey).replace('Example', 'Exampel');
    assert.throws(() => verify(text, trusted, Date.UTC(2040, 0, 1)), refusal('bad_signature'));
  });

  const malformed: [string, string, RegExp][] = [
    ['text that is not TOML', '[license\nsignature = 1', /^license\.toml:1: /],
    ['no [license] table', 'signature = "x"\n', /no \[license\] table/],
    [
      'an unknown key',
      '[license]\nsignature = "x"\nvalid_until = 2031-01-01T00:00:00Z\nseats = 10\n',
      /unknown key "seats"/,
    ],
    [
      'a local valid_until',
      '[license]\nsignature = "x"\nvalid_until = 2031-01-01T00:00:00\n',
      /:3: .*offset/,
    ],
    ['a date-only valid_until', '[license]\nsignature = "x"\nvalid_until = 2031-01-01\n', /offset/],
    [
      'a valid_until without offset',
      '[license]\nsignature = "x"\nvalid_until = 2031-01-01T00:00:00\n',
      /:3: .*date-time with an offset/,
    ],
    [
      'a numeric serial_number',
      '[license]\nsignature = "x"\nserial_number = 7\nvalid_until = 2031-01-01T00:00:00Z\n',
      /:3: .*serial_number must be a string/,
    ],
    [
      'a signature of another form',
      '[license]\nvalid_until = 2031-01-01T00:00:00Z\nsignature = "rsa:abc"\n',
      /:3: .*ed25519:<kid>/,
    ],
  ];
  for (const [what, text, pattern] of malformed) {
    test(`${what} is refused as malformed with file:line`, () => {
      assert.throws(() => verify(text), refusal('malformed', pattern));
    });
  }

  test('signing refuses an invalid date', () => {
    assert.throws(() => signLicense({ validUntil: new Date(Number.NaN) }, issuerKey), refusal('malformed'));
  });
});

describe('loading license.toml', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'grid-license-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('no file: null, so the server runs unlicensed', async () => {
    assert.equal(await loadLicenseFile(join(dir, 'absent.toml'), trusted, now), null);
  });

  test('no file where one was asked for: not_found naming the path', async () => {
    const path = join(dir, 'absent.toml');
    await assert.rejects(
      loadLicenseFile(path, trusted, now, { required: true }),
      refusal('not_found', new RegExp(`^${path}: `)),
    );
  });

  test('a directory in place of the file: unreadable', async () => {
    await assert.rejects(loadLicenseFile(dir, trusted, now), refusal('unreadable'));
  });

  test('a valid file verifies; errors name the file', async () => {
    const path = join(dir, 'license.toml');
    await writeFile(path, signLicense(fields, issuerKey));
    assert.equal((await loadLicenseFile(path, trusted, now))?.serialNumber, 'EG-0001');
    await writeFile(path, signLicense(fields, issuerKey).replace('EG-0001', 'EG-0002'));
    await assert.rejects(
      loadLicenseFile(path, trusted, now),
      refusal('bad_signature', new RegExp(`^${path}:\\d+: `)),
    );
  });
});

describe('docs/license.md', () => {
  test('its example licence verifies with the vector key it names, and its canonical example holds', async () => {
    const doc = await readFile(new URL('../../docs/license.md', import.meta.url), 'utf8');
    const example = /```toml\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(example);
    const key = accessKeyToJwk('AcIbjUrHA8EV62TAGYcwDtHhQ8wN3lXmcKtFtN/SvdMA');
    const verified = verifyLicense(
      parseLicenseToml(example, 'docs/license.md'),
      [publicJwk(key)],
      Date.UTC(2026, 0, 1),
    );
    assert.equal(verified.licensee, 'Example Games');
    const canonical = canonicalLicenseBytes({
      issuer: 'I',
      licensee: 'L',
      validUntil: new Date('2027-01-01T02:00:00+02:00'),
    });
    assert.ok(doc.includes(`\n${new TextDecoder().decode(canonical)}\n`));
    assert.ok(doc.includes(`signed as the ${canonical.length} bytes`));
  });
});
