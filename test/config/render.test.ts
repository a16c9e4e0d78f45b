import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REDACTED, redactConfig, renderConfigToml } from '../../server/config/index.ts';
import { load, MINIMAL, README_KEY } from './helpers.ts';

const FULL = `${MINIMAL}
[supervisor]
url = "http://grid:s3cret@gateway:7000/internal"
version = 123456

[[authorization.keys]]
kid = "${README_KEY.kid}"
kty = "OKP"
crv = "Ed25519"
x = "${README_KEY.x}"
d = "${README_KEY.d}"

[quic]
[http]
webrtc_candidates = ["203.0.113.7"]
[metrics]
global_labels = { region = "eu" }
allowed = ["10.0.0.0/8"]
[limit]
max_clients = 10
[limit.network]
incoming_media_packets = { rate = 100, capacity = 200 }
[telemetry]
address = "https://user:pw@telemetry.example/v1?x=1"
data = ["LicenseIssuer", "LicenseValidUntil"]
[internal]
log_hanging_api_calls = 1_000
bundle_events = 20
[log.terminal]
verbosity = 2
filters = ["werift=warn"]
`;

test('a rendered config loads back identically', () => {
  const config = load(FULL);
  const text = renderConfigToml(config);
  assert.deepEqual(load(text), config);
});

test('a partial config renders only what it has, and loads with defaults', () => {
  const text = renderConfigToml({
    public_address: 'a.example',
    quic: { binding: '0.0.0.0:5000' },
    http: undefined,
  });
  assert.equal(text.trim(), 'public_address = "a.example"\n\n[quic]\nbinding = "0.0.0.0:5000"');
  const config = load(text);
  assert.equal(config.quic?.idle_timeout, 30000);
  assert.equal(config.http, undefined);
});

test('redaction hides JWK seeds and URL passwords, and copies', () => {
  const config = load(FULL);
  const redacted = redactConfig(config);
  assert.equal(redacted.authorization.keys[0]?.d, REDACTED);
  assert.equal(redacted.authorization.keys[0]?.x, README_KEY.x);
  assert.equal(redacted.supervisor?.url, 'http://grid:<redacted>@gateway:7000/internal');
  assert.equal(redacted.telemetry?.address, 'https://user:<redacted>@telemetry.example/v1?x=1');
  assert.equal(config.authorization.keys[0]?.d, README_KEY.d, 'the original is untouched');
  assert.equal(config.supervisor?.url, 'http://grid:s3cret@gateway:7000/internal');
  assert.doesNotMatch(JSON.stringify(redacted), /s3cret|pw@|5FYw1/);
});

test('URLs without a password are left alone', () => {
  const redacted = redactConfig(load(`${MINIMAL}[supervisor]\nurl = "http://gateway:7000/x?a=b:c@d"\n`));
  assert.equal(redacted.supervisor?.url, 'http://gateway:7000/x?a=b:c@d');
});
