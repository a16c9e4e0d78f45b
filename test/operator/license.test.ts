/**
 * Licences under the operator: the operator verifies spec.license as grid will (common/license)
 * against the issuers it trusts, gives the pods those issuers, and reports a refused licence
 * in the LicenseValid condition.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Deployment, V1Secret } from '@kubernetes/client-node';
import { accessKeyToJwk, generateAccessKey, publicJwk } from '../../common/auth/index.ts';
import {
  parseLicenseIssuers,
  parseLicenseToml,
  signLicense,
  verifyLicense,
} from '../../common/license/index.ts';
import { checkLicense, LicenseExpiryTimers, licenseCondition } from '../../operator/controller/license.ts';
import { computeStatus } from '../../operator/controller/status.ts';
import { renderChildren, validate } from '../../operator/render/index.ts';
import { secretValues } from '../../operator/render/secrets.ts';
import { trustedLicenseIssuers } from '../../server/cli/effectiveLicense.ts';
import { storedServer } from './fakeCaches.ts';
import { odinServer } from './helpers.ts';
import { reconcilerSetup } from './reconcilerSetup.ts';

const issuerKey = generateAccessKey();
const issuer = publicJwk(accessKeyToJwk(issuerKey));
const stranger = generateAccessKey();
const now = Date.parse('2026-06-01T00:00:00Z');
const validUntil = new Date('2027-01-01T00:00:00Z');
const signed = signLicense({ licensee: 'Example Games', serialNumber: 'EG-1', validUntil }, issuerKey);
const licensed = odinServer({ license: { secretRef: { name: 'lic' } } });
const secretWith = (data: Record<string, string>): V1Secret => ({
  metadata: { name: 'lic', namespace: 'games' },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
});
const check = (secret: V1Secret | undefined, trustedIssuers = [issuer], at = now) =>
  checkLicense({ server: licensed, secret, trustedIssuers, now: at });

test('no spec.license: nothing to check', () => {
  assert.deepEqual(checkLicense({ server: odinServer(), secret: undefined, trustedIssuers: [], now }), {
    state: 'none',
  });
});

test('a licence signed by a trusted issuer is valid, with who and until when', () => {
  const result = check(secretWith({ 'license.toml': signed }));
  assert.equal(result.state, 'valid');
  assert.ok(result.state === 'valid');
  assert.equal(result.content, signed);
  assert.match(
    result.message,
    /licensed to Example Games, serial EG-1, issuer key .+, valid until 2027-01-01T00:00:00.000Z/,
  );
});

test('every refusal has its own reason and a message naming the Secret', () => {
  const cases: [string, ReturnType<typeof check>, string, RegExp][] = [
    ['no Secret', check(undefined), 'SecretNotFound', /Secret "lic" does not exist/],
    ['no key', check(secretWith({ other: signed })), 'KeyNotFound', /has no key "license.toml"/],
    [
      'not TOML',
      check(secretWith({ 'license.toml': 'nope = [' })),
      'Malformed',
      /^Secret lic key license\.toml:1: /,
    ],
    [
      'unsigned',
      check(secretWith({ 'license.toml': '[license]\nvalid_until = 2027-01-01T00:00:00Z\n' })),
      'MissingSignature',
      /unsigned/,
    ],
    [
      'untrusted, operator trusts none',
      check(secretWith({ 'license.toml': signed }), []),
      'UntrustedIssuer',
      /not a trusted licence issuer key; the operator trusts no licence issuer: set the chart value licenseIssuers/,
    ],
    [
      'untrusted, operator trusts another',
      check(secretWith({ 'license.toml': signLicense({ validUntil }, stranger) })),
      'UntrustedIssuer',
      new RegExp(`trusted issuer key ids: ${issuer.kid.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`),
    ],
    [
      'tampered',
      check(secretWith({ 'license.toml': signed.replace('Example Games', 'Other Games') })),
      'BadSignature',
      /changed after it was signed/,
    ],
    [
      'expired',
      check(secretWith({ 'license.toml': signed }), [issuer], Date.parse('2027-02-01T00:00:00Z')),
      'Expired',
      /expired at 2027-01-01/,
    ],
  ];
  for (const [name, result, reason, message] of cases) {
    assert.equal(result.state, 'invalid', name);
    assert.ok(result.state === 'invalid');
    assert.equal(result.reason, reason, name);
    assert.match(result.message, message, name);
  }
});

test('pods with a licence get GRID_LICENSE_ISSUERS, and grid trusts exactly what the operator verified', () => {
  const second = publicJwk(accessKeyToJwk(generateAccessKey()));
  const render = (spec: Record<string, unknown>) =>
    renderChildren({
      server: odinServer(spec),
      accessKeys: { accessKey: generateAccessKey() },
      supervisorSecret: { password: 'pw', masterKey: Buffer.alloc(32, 1).toString('base64') },
      license: signed,
      licenseIssuers: [issuer.x, second.x],
      deploymentReplicas: 1,
      supervisorUrl: 'http://odin-operator.odin-system:7000',
      pods: [],
    });
  const envOf = (spec: Record<string, unknown>) => {
    const deployment = render(spec).objects.find((o) => o.kind === 'Deployment') as V1Deployment;
    return deployment.spec!.template.spec!.containers[0]!.env!;
  };
  const value = envOf({ license: { secretRef: { name: 'lic' } } }).find(
    (e) => e.name === 'GRID_LICENSE_ISSUERS',
  );
  assert.equal(
    value?.value,
    `${issuer.x},${second.x}`,
    'a plain value (public keys), not a Secret reference',
  );
  // What grid reads from that variable verifies the licence the operator accepted.
  const trusted = trustedLicenseIssuers({ GRID_LICENSE_ISSUERS: value!.value });
  assert.equal(verifyLicense(parseLicenseToml(signed, 'license.toml'), trusted, now).keyId, issuer.kid);
  assert.ok(
    !envOf({}).some((e) => e.name === 'GRID_LICENSE_ISSUERS'),
    'no variable without a licence: a new trusted key does not roll unlicensed fleets',
  );
});

test('--license-issuers: base64url Ed25519 keys, each bad entry named', () => {
  const [parsed] = parseLicenseIssuers(` ${issuer.x} `, '--license-issuers');
  assert.deepEqual([parsed?.kid, parsed?.x, parsed?.crv], [issuer.kid, issuer.x, 'Ed25519']);
  assert.deepEqual(parseLicenseIssuers('', '--license-issuers'), []);
  assert.throws(
    () => parseLicenseIssuers(`${issuer.x},abc`, '--license-issuers'),
    /--license-issuers entry 2 is not a base64url Ed25519 public key/,
  );
});

test('status: LicenseValid with the reason; a refused licence makes the fleet Degraded and not Ready', () => {
  const status = (license?: { valid: boolean; reason: string; message: string }) =>
    computeStatus(
      {
        server: licensed,
        errors: [],
        pods: [
          { name: 'p', ready: true, createdAt: 0, draining: false, markedRemovable: false, reporting: true },
        ],
        deployment: undefined,
        draining: [],
        now: new Date(now),
        ...(license
          ? {
              extraConditions: [
                licenseCondition(
                  license.valid
                    ? { state: 'valid', content: '', license: {} as never, message: license.message }
                    : { state: 'invalid', reason: license.reason, message: license.message },
                )!,
              ],
            }
          : {}),
      },
      undefined,
    );
  const condition = (s: ReturnType<typeof status>, type: string) =>
    s.conditions?.find((c) => c.type === type);
  const refused = status({ valid: false, reason: 'UntrustedIssuer', message: 'signed by key "x"' });
  assert.deepEqual(
    [condition(refused, 'LicenseValid')?.status, condition(refused, 'LicenseValid')?.reason],
    ['False', 'UntrustedIssuer'],
  );
  assert.equal(condition(refused, 'LicenseValid')?.message, 'signed by key "x"');
  assert.equal(condition(refused, 'Ready')?.reason, 'LicenseInvalid');
  assert.equal(condition(refused, 'Degraded')?.status, 'True');
  assert.equal(condition(refused, 'ConfigValid')?.status, 'True');
  const valid = status({ valid: true, reason: 'Valid', message: 'licensed' });
  assert.equal(condition(valid, 'LicenseValid')?.status, 'True');
  assert.equal(condition(valid, 'Degraded')?.status, 'False');
  assert.equal(condition(status(), 'LicenseValid'), undefined, 'no licence, no condition');
});

test('an expiring licence re-queues its OdinServer; clearing the timer cancels it', async () => {
  const timers = new LicenseExpiryTimers();
  const added = new Promise<string>((resolve) =>
    timers.set('ns/a', new Date(Date.now() - 5_000), Date.now(), resolve),
  );
  assert.equal(await added, 'ns/a');
  let fired = false;
  timers.set('ns/b', new Date(Date.now() - 5_000), Date.now(), () => (fired = true));
  timers.set('ns/b', undefined, Date.now(), () => {});
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(fired, false);
  timers.clear();
});

test('pods mount the verified copy: a licence edited into a refused one never reaches a restarting pod', async () => {
  const { caches, writer, reconciler } = reconcilerSetup({ licenseIssuers: [issuer], now: () => now });
  caches.servers.put(storedServer({ license: { secretRef: { name: 'lic' } } }));
  caches.secrets.put({
    ...secretWith({ 'license.toml': signed }),
    metadata: { name: 'lic', namespace: 'games' },
  });
  await reconciler.reconcile('games', 'voice');
  assert.ok(writer.writes.includes('Secret/voice-verified-license'), writer.writes.join(', '));
  const copy = () => secretValues(caches.secrets.get('voice-verified-license', 'games'))['license.toml'];
  assert.equal(copy(), signed);
  const deployment = caches.deployments.get('voice', 'games') as V1Deployment;
  const volume = deployment.spec!.template.spec!.volumes!.find((v) => v.name === 'license');
  assert.equal(volume?.secret?.secretName, 'voice-verified-license', "the operator's copy, not Secret lic");

  // The user's Secret now holds a licence signed by an issuer the operator does not trust.
  const forged = signLicense({ licensee: 'Example Games', serialNumber: 'EG-2', validUntil }, stranger);
  caches.secrets.put({
    ...secretWith({ 'license.toml': forged }),
    metadata: { name: 'lic', namespace: 'games' },
  });
  writer.writes.length = 0;
  await reconciler.reconcile('games', 'voice');
  assert.deepEqual(writer.writes, ['OdinServerStatus/voice'], 'nothing but status is written');
  assert.equal(copy(), signed, 'a pod that restarts now still mounts the licence it was verified with');
});

test('a spec may not name a Secret the operator generates for it', () => {
  const errors = validate(
    odinServer({
      license: { secretRef: { name: 'voice-verified-license' } },
      authorization: { accessKeysSecretRef: { name: 'voice-supervisor' } },
    }),
  );
  assert.deepEqual(
    errors.map((e) => e.path),
    ['spec.authorization.accessKeysSecretRef.name', 'spec.license.secretRef.name'],
  );
  assert.match(errors[0]!.message, /"voice-supervisor", a Secret the operator generates/);
});
