/**
 * The ODIN server documentation's own examples (test/fixtures/odin-docs/, copied verbatim from
 * the docs, blank addresses filled in) load as the docs describe them, and `grid check`, run as a
 * user runs it, accepts them. examples/config/odin-docs/ ships the same files.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LicenseError, parseLicenseToml, verifyLicense } from '../../common/license/index.ts';
import { createTokenVerifier, sfuParamsFromConfig } from '../../server/assembly.ts';
import { parseConfigText, supervisorSuppliedKeys } from '../../server/config/index.ts';
import { silentLogger } from '../../server/observability/log.ts';
import { problemsOf, selfSignedCert, tempDir } from './helpers.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const fixtures = join(repo, 'test/fixtures/odin-docs');
const fixture = (name: string) => readFile(join(fixtures, name), 'utf8');

/** `grid check` in `cwd` (relative certificate paths resolve there), without the caller's GRID_*. */
function gridCheck(
  config: string,
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('GRID_')));
  const child = spawn(process.execPath, [join(repo, 'server/main.ts'), 'check', '--config', config], {
    cwd,
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** A directory holding the `fullchain.pem` and `privkey.pem` the docs' examples name. */
async function dirWithDocsCertificates(): Promise<string> {
  const dir = tempDir();
  const { cert, key } = selfSignedCert(dir);
  await copyFile(cert, join(dir, 'fullchain.pem'));
  await copyFile(key, join(dir, 'privkey.pem'));
  return dir;
}

test('examples/config/odin-docs holds exactly the fixture files', async () => {
  const shipped = join(repo, 'examples/config/odin-docs');
  const names = (await readdir(fixtures)).sort();
  assert.deepEqual((await readdir(shipped)).sort(), names);
  for (const name of names) {
    assert.equal(await readFile(join(shipped, name), 'utf8'), await fixture(name), name);
  }
});

describe("the docs' full config.toml", () => {
  test('loads with every key read as the docs describe it', async () => {
    const config = parseConfigText(await fixture('config.toml'), { source: 'config.toml' });
    assert.equal(config.verbosity, 1);
    assert.equal(config.public_address, 'localhost:4433');
    assert.deepEqual(config.supervisor, {
      url: 'http://localhost:7000/internal',
      report_interval: 5000,
      no_warmup: false,
      version: 123456,
    });
    assert.equal(config.authorization.keys[0]?.kid, 'Afkwfu4BVHDh');
    assert.equal(config.quic?.connect_timeout, 1000);
    assert.equal(config.quic?.no_peers_timeout, 1000);
    assert.deepEqual(config.http?.webrtc_candidates, ['127.0.0.1', '::1']);
    assert.deepEqual(config.metrics?.global_labels, { deployment: 'foo' });
    assert.deepEqual(config.limit.network.incoming_media_packets, { rate: 50, capacity: 100 });
    assert.deepEqual(config.limit.peer.incoming_messages, { rate: 10, capacity: 50, overflow: 20 });
    assert.equal(config.limit.peer.medias, 5);
    assert.deepEqual(config.telemetry, {
      address: 'http://localhost/',
      interval: 5000,
      max_consecutive_failures: 4,
      data: ['LicenseValidUntil', 'LicenseLicensee', 'LicenseSerialNumber', 'LicenseIssuer'],
    });
    // `log_hanging_api_calls = 1_000 # ms` is the threshold the core warns after.
    assert.equal(config.internal.log_hanging_api_calls, 1000);
    const params = sfuParamsFromConfig(config, createTokenVerifier(config), silentLogger());
    assert.equal(params.hangingCallMs, 1000);
  });

  test('grid check accepts it, certificate files included', async () => {
    const dir = await dirWithDocsCertificates();
    const result = await gridCheck(join(fixtures, 'config.toml'), dir);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /config\.toml is valid\.$/m);
    assert.match(result.stdout, /^version = 123456$/m);
  });
});

describe("the docs' minimal supervised config.toml", () => {
  test('loads, leaving public_address and the keys to the supervisor', async () => {
    const config = parseConfigText(await fixture('minimal-supervised.toml'));
    assert.equal(config.supervisor?.url, 'http://localhost:7000/internal');
    assert.equal(config.public_address, undefined);
    assert.deepEqual(supervisorSuppliedKeys(config), ['public_address', 'authorization.keys']);
  });

  test('grid check accepts it and names what the supervisor must supply', async () => {
    const result = await gridCheck(join(fixtures, 'minimal-supervised.toml'), tempDir());
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /is valid; left to the supervisor's sfu\.GridConfig answer: public_address, authorization\.keys\./,
    );
  });
});

describe("the docs' minimal standalone config.toml", () => {
  test('loads with the public address from GRID_PUBLIC_ADDRESS', async () => {
    const config = parseConfigText(await fixture('minimal-standalone.toml'), {
      env: { GRID_PUBLIC_ADDRESS: 'voice.example.com' },
    });
    assert.equal(config.public_address, 'voice.example.com');
    assert.equal(config.quic?.certificate_file, 'fullchain.pem');
    assert.equal(config.http?.privatekey_file, 'privkey.pem');
    assert.equal(config.authorization.keys.length, 1);
  });

  test('without any public address it is refused, saying where to set it', async () => {
    const problems = problemsOf(await fixture('minimal-standalone.toml'));
    assert.deepEqual(
      problems.map((p) => `${p.path}: ${p.message}`),
      ['public_address: missing required key'],
    );
    assert.match(problems[0]?.hint ?? '', /GRID_PUBLIC_ADDRESS/);
  });

  test('grid check accepts it with GRID_PUBLIC_ADDRESS, certificate files included', async () => {
    const dir = await dirWithDocsCertificates();
    const config = join(fixtures, 'minimal-standalone.toml');
    const refused = await gridCheck(config, dir);
    assert.equal(refused.code, 3);
    assert.match(
      refused.stderr,
      /public_address: missing required key; set it here or with .*GRID_PUBLIC_ADDRESS/,
    );
    const result = await gridCheck(config, dir, { GRID_PUBLIC_ADDRESS: 'voice.example.com:4433' });
    assert.equal(result.code, 0, result.stderr);
  });
});

test("the docs' [license] section parses: optional fields read, its blank signature refused", async () => {
  const license = parseLicenseToml(await fixture('license.toml'), 'license.toml');
  assert.equal(license.issuer, '4Players');
  assert.equal(license.licensee, '622012345');
  assert.equal(license.serialNumber, 'b0FBTWZ2Rj3OY25uZWtYRlpoekVBUT09');
  assert.equal(license.validUntil?.toISOString(), '1987-07-05T17:45:00.000Z');
  assert.throws(
    () => verifyLicense(license, []),
    (e: unknown) => e instanceof LicenseError && e.code === 'malformed',
  );
});
