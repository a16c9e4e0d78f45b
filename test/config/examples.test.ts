import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../server/config/index.ts';

const example = (name: string) => new URL(`../../examples/config/${name}`, import.meta.url).pathname;

test('examples/config/standalone.toml loads', async () => {
  const config = await loadConfig({ path: example('standalone.toml'), checkFiles: false });
  assert.equal(config.public_address, 'voice.example.com:4433');
  assert.equal(config.authorization.keys[0]?.kid, 'Afkwfu4BVHDh');
  assert.equal(config.supervisor, undefined);
  assert.ok(config.quic && config.http && config.metrics);
});

test('examples/config/supervised.toml loads', async () => {
  const config = await loadConfig({ path: example('supervised.toml'), checkFiles: false });
  assert.equal(config.supervisor?.url, 'http://grid:change-me@gateway:7000/internal');
  assert.deepEqual(config.authorization.keys, []);
});

test('examples/config/broken.toml reports every mistake at once', async () => {
  const path = example('broken.toml');
  const error = await loadConfig({ path, checkFiles: false }).then(
    () => assert.fail('expected an error'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ConfigError);
  assert.deepEqual(
    error.problems.map((p) => `${p.line} ${p.path}: ${p.message}`),
    [
      '4 verbosity: 4 is out of range: must be between 0 and 3',
      '5 public_address: "voice.example.com:99999" is not an address "host" or "host:port" (port 1..65535), e.g. "voice.example.com:4433"',
      '8 supervisor.url: "ftp://gateway/internal" is not an http:// or https:// URL, e.g. "http://user:password@gateway:7000/internal"',
      '10 provisioning: [provisioning] and [supervisor] are the same section',
      '18 authorization.keys[0].d: does not match x: this seed belongs to another public key',
      '20 quic.privatekey_file: missing: certificate_file and privatekey_file go together',
      '24 http.bindng: unknown key',
      '25 http.timeout: expected an integer (milliseconds), got "10s"',
      '28 metrics.allowed[0]: "10.0.0.0/33" is not an IPv4/IPv6 address or CIDR block, e.g. "10.0.0.0/8" or "fd00::/8"',
      '31 limit.peer.concurrent_streams: 9 is out of range: must be between 0 and 8',
      '34 log.terminal.format: must be one of "text", "json", "none" (got "jsn")',
    ],
  );
  assert.ok(error.problems.every((p) => p.source === path));
});
