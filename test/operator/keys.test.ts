import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planKeys, secretProblems } from '../../operator/controller/keys.ts';
import { observe } from '../../operator/controller/observe.ts';
import { fakeCaches, storedServer } from './fakeCaches.ts';

const served = [{ kid: 'k1', kty: 'OKP' as const, crv: 'Ed25519' as const, x: 'xx' }];
const observation = (
  spec: Record<string, unknown>,
  over: { accessKeys?: boolean; rendered?: boolean; servedKeys?: typeof served } = {},
) => {
  const caches = fakeCaches();
  caches.servers.put(storedServer(spec));
  const o = observe(caches, 'games', 'voice')!;
  return {
    ...o,
    secrets: { ...o.secrets, accessKeys: over.accessKeys ?? false },
    rendered: over.rendered ?? false,
    servedKeys: over.servedKeys ?? [],
  };
};

test('a new OdinServer gets a generated key; a running one never does', () => {
  assert.deepEqual(planKeys(observation({})), {});
  assert.deepEqual(planKeys(observation({}, { rendered: true, servedKeys: served })), {
    keptPublicKeys: served,
  });
  const unknown = planKeys(observation({}, { rendered: true }));
  assert.match(unknown.error?.message ?? '', /key the servers have is unknown; restore the Secret/);
  assert.deepEqual(planKeys(observation({}, { accessKeys: true, rendered: true })), {});
});

test("a missing keys Secret of the user's: kept keys when the fleet runs, an actionable error when new", () => {
  const ref = { authorization: { accessKeysSecretRef: { name: 'keys' } } };
  assert.match(
    planKeys(observation(ref)).error?.message ?? '',
    /Secret games\/keys does not exist; create it/,
  );
  assert.deepEqual(planKeys(observation(ref, { rendered: true, servedKeys: served })), {
    keptPublicKeys: served,
  });
  const o = observation(ref);
  assert.deepEqual(
    secretProblems(o, planKeys(o)).map((p) => p.reason),
    ['AccessKeysSecretMissing'],
  );
});

test('missing TLS and licence Secrets are named with their spec field', () => {
  const o = observation(
    { tls: { secretName: 'tls' }, license: { secretRef: { name: 'lic' } } },
    { accessKeys: true },
  );
  const problems = secretProblems(o, planKeys(o));
  assert.deepEqual(
    problems.map((p) => p.reason),
    ['TLSSecretMissing', 'LicenseSecretMissing'],
  );
  assert.match(problems[0]!.message, /games\/tls \(spec\.tls\.secretName\)/);
  assert.match(problems[1]!.message, /games\/lic \(spec\.license\.secretRef\)/);
});
