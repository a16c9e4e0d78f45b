// Test helpers for server/config: temp dirs, real self-signed certificates (openssl CLI; Node
// has no certificate generator), and a way to catch a ConfigError's problems.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { ConfigError, type ConfigProblem, parseConfigText } from '../../server/config/index.ts';

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'grid-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `<name>.crt` and `<name>.key` (self-signed, EC P-256) into `dir`. */
export function selfSignedCert(dir: string, name = 'tls'): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

export const MINIMAL = 'public_address = "voice.example.com:4433"\n';

/** The problems `parseConfigText` reports; fails the test when it does not throw a ConfigError. */
export function problemsOf(
  text: string,
  env: Record<string, string> = {},
  checkFiles = false,
): ConfigProblem[] {
  try {
    parseConfigText(text, { source: 'config.toml', env, checkFiles });
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail('expected the config to be rejected');
}

/** Loads text that must be valid. */
export function load(text: string, env: Record<string, string> = {}) {
  return parseConfigText(text, { source: 'config.toml', env, checkFiles: false });
}

/** The README example key (ODIN-PROTOCOL.md §1; test/fixtures/odin-tokens.json). */
export const README_KEY = {
  kid: 'Afkwfu4BVHDh',
  kty: 'OKP',
  crv: 'Ed25519',
  x: 'a5J2bhmU7vsY0LrW1zt56iUdmhRUNz7Pl9eBoCy29d8',
  d: '5FYw1qdABjE0qEKEe821L7UPl_DZfO-PavpaiLsGDR0',
} as const;

/** Another valid key (config.example.toml's), to mix up x and d. */
export const EXAMPLE_KEY = {
  kid: 'AWMsrlLGIO/K',
  x: 'Vs-VjcqDRizEvU9c0fOwE2CnwfrE0vB4IyuLwOoW1gc',
  d: 'ktMKF-y1FC84JT-R6vz9VwkX7eKN5QpiWbHVrY5J5Yw',
} as const;
