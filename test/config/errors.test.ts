import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, parseConfigText } from '../../server/config/index.ts';
import { EXAMPLE_KEY, load, MINIMAL, problemsOf, README_KEY } from './helpers.ts';

test('an unknown key is an error with a did-you-mean and its line', () => {
  const text = `${MINIMAL}\n[http]\ntimeout = 100\nbindng = "0.0.0.0:4433"\n`;
  try {
    parseConfigText(text, { source: 'config.toml', checkFiles: false });
    assert.fail('expected an error');
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    assert.deepEqual(e.problems, [
      {
        source: 'config.toml',
        line: 5,
        column: 1,
        path: 'http.bindng',
        message: 'unknown key',
        hint: 'did you mean "binding"?',
      },
    ]);
    assert.equal(e.message, 'config.toml:5:1: http.bindng: unknown key; did you mean "binding"?');
  }
});

test('an unknown key with no close match lists the known keys', () => {
  const [p] = problemsOf(`${MINIMAL}[shutdown]\nzzz = 1\n`);
  assert.equal(p?.path, 'shutdown.zzz');
  assert.equal(p?.hint, 'expected one of: grace_period');
});

test('an unknown section is an error at its header', () => {
  const [p] = problemsOf(`${MINIMAL}\n[metrix]\nbinding = "0.0.0.0:9000"\n`);
  assert.equal(p?.path, 'metrix');
  assert.equal(p?.line, 3);
  assert.equal(p?.hint, 'did you mean "metrics"?');
});

test('several errors are reported at once, in file order, each with file:line:path', () => {
  const text = `verbosity = 4
public_address = "voice.example.com:4433"
[quic]
idle_timeout = "30s"
[limit.peer]
concurrent_streams = 9
[log.terminal]
format = "xml"
`;
  try {
    parseConfigText(text, { source: '/etc/grid/config.toml', checkFiles: false });
    assert.fail('expected an error');
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    assert.deepEqual(e.message.split('\n'), [
      '/etc/grid/config.toml:1:1: verbosity: 4 is out of range: must be between 0 and 3',
      '/etc/grid/config.toml:4:1: quic.idle_timeout: expected an integer (milliseconds), got "30s"',
      '/etc/grid/config.toml:6:1: limit.peer.concurrent_streams: 9 is out of range: must be between 0 and 8',
      '/etc/grid/config.toml:8:1: log.terminal.format: must be one of "text", "json", "none" (got "xml")',
    ]);
  }
});

test('wrong types name what was expected and what was found', () => {
  const problems = problemsOf(`${MINIMAL}
[quic]
migration = "yes"
[http]
webrtc_candidates = "1.2.3.4"
[limit]
max_clients = 1.5
network = 3
`);
  assert.deepEqual(
    problems.map((p) => `${p.line} ${p.path}: ${p.message}`),
    [
      '4 quic.migration: expected a boolean (true or false), got "yes"',
      '6 http.webrtc_candidates: expected an array, got "1.2.3.4"',
      '8 limit.max_clients: expected an integer, got 1.5',
      '9 limit.network: expected a table, got 3',
    ],
  );
});

test('a missing public_address is reported with its environment variable', () => {
  const [p] = problemsOf('[quic]\n');
  assert.equal(p?.path, 'public_address');
  assert.equal(p?.message, 'missing required key');
  assert.match(p?.hint ?? '', /GRID_PUBLIC_ADDRESS/);
});

test('bindings must be host:port with a valid host and port', () => {
  const bad = ['0.0.0.0', '0.0.0.0:65536', '::1:4433', '[::1]', 'bad host:1', '999.1.1.1:80', ':4433'];
  for (const binding of bad) {
    const [p] = problemsOf(`${MINIMAL}[http]\nbinding = "${binding}"\n`);
    assert.equal(p?.path, 'http.binding', binding);
    assert.match(p?.message ?? '', /is not a binding "host:port"/, binding);
  }
  for (const binding of [
    '0.0.0.0:0',
    '[::]:4433',
    '[2001:db8::1]:443',
    'localhost:80',
    'grid-0.grid.svc:4433',
  ]) {
    assert.equal(load(`${MINIMAL}[http]\nbinding = "${binding}"\n`).http?.binding, binding);
  }
});

test('public_address is host or host:port', () => {
  for (const address of ['voice.example.com', '203.0.113.7:4433', '[2001:db8::1]:4433', '2001:db8::1']) {
    assert.equal(load(`public_address = "${address}"\n`).public_address, address);
  }
  for (const address of ['http://voice.example.com', 'host:0', 'a b', '']) {
    const [p] = problemsOf(`public_address = "${address}"\n`);
    assert.equal(p?.path, 'public_address', address);
  }
});

test('metrics.allowed must be IPv4/IPv6 addresses or CIDR blocks', () => {
  const problems = problemsOf(
    `${MINIMAL}[metrics]\nallowed = ["10.0.0.0/8", "fd00::/8", "127.0.0.1", "10.0.0.0/33", "::1/129", "office"]\n`,
  );
  assert.deepEqual(
    problems.map((p) => p.path),
    ['metrics.allowed[3]', 'metrics.allowed[4]', 'metrics.allowed[5]'],
  );
  assert.match(problems[0]?.message ?? '', /"10.0.0.0\/33" is not an IPv4\/IPv6 address or CIDR block/);
});

test('the supervisor url must be http(s), credentials allowed', () => {
  for (const url of ['ftp://gateway/', 'gateway:7000', 'http://']) {
    const [p] = problemsOf(`${MINIMAL}[supervisor]\nurl = "${url}"\n`);
    assert.equal(p?.path, 'supervisor.url', url);
  }
  const url = 'https://u:p@gw.example:7000/internal';
  assert.equal(load(`${MINIMAL}[supervisor]\nurl = "${url}"\n`).supervisor?.url, url);
});

test('webrtc_candidates are IP addresses or hostnames', () => {
  const problems = problemsOf(
    `${MINIMAL}[http]\nwebrtc_candidates = ["203.0.113.7", "2001:db8::7", "voice.example.com", "1.2.3.4:5"]\n`,
  );
  assert.deepEqual(
    problems.map((p) => [p.path, p.line, p.column]),
    [['http.webrtc_candidates[3]', 3, 73]],
  );
});

test('a JWK whose d does not belong to x is rejected at the d line', () => {
  const problems = problemsOf(`${MINIMAL}
[[authorization.keys]]
kid = "${README_KEY.kid}"
kty = "OKP"
crv = "Ed25519"
x = "${README_KEY.x}"
d = "${EXAMPLE_KEY.d}"
`);
  assert.deepEqual(
    problems.map((p) => [p.path, p.line, p.message]),
    [['authorization.keys[0].d', 8, 'does not match x: this seed belongs to another public key']],
  );
});

test('JWK x and d must be 32 bytes of base64url, kty/crv fixed, kids unique', () => {
  const problems = problemsOf(`${MINIMAL}
[authorization]
keys = [
  { kid = "a", kty = "OKP", crv = "Ed25519", x = "${README_KEY.x}" },
  { kid = "a", kty = "EC", crv = "P-256", x = "abc", d = "${README_KEY.d}=" },
  { kty = "OKP", crv = "Ed25519", x = "${EXAMPLE_KEY.x}" },
]
`);
  assert.deepEqual(
    problems.map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`),
    [
      '6:5 authorization.keys[1].kid: duplicate kid "a"',
      '6:16 authorization.keys[1].kty: must be "OKP" (got "EC")',
      '6:28 authorization.keys[1].crv: must be "Ed25519" (got "P-256")',
      '6:43 authorization.keys[1].x: not an Ed25519 public key: expected 32 bytes of base64url',
      '6:54 authorization.keys[1].d: not an Ed25519 seed: expected 32 bytes of base64url',
      // A key missing from an inline table points at the table's opening brace.
      '7:3 authorization.keys[2].kid: missing required key',
    ],
  );
});

test('a certificate without its key (or the reverse) is an error', () => {
  const problems = problemsOf(
    `${MINIMAL}[quic]\ncertificate_file = "a.crt"\n[http]\nprivatekey_file = "b.key"\n`,
  );
  assert.deepEqual(
    problems.map((p) => [p.path, p.line]),
    [
      ['quic.privatekey_file', 2],
      ['http.certificate_file', 4],
    ],
  );
});

test('invalid TOML is one error with its line and column', () => {
  const problems = problemsOf(`${MINIMAL}[quic\nbinding = 1\n`);
  assert.equal(problems.length, 1);
  assert.equal(problems[0]?.line, 2);
  assert.equal(problems[0]?.path, '');
  assert.match(problems[0]?.message ?? '', /^not valid TOML: /);
});

test('metrics global_labels names must be Prometheus label names', () => {
  const [p, ...rest] = problemsOf(
    `${MINIMAL}[metrics]\nglobal_labels = { region = "eu", "bad-name" = "x" }\n`,
  );
  assert.equal(rest.length, 0);
  assert.equal(p?.path, 'metrics.global_labels.bad-name');
  assert.equal(p?.line, 3);
});

test('[quic] engine = "matrixai", the removed engine, is one problem saying what to do, in the file or the env', () => {
  const problems = problemsOf(`${MINIMAL}[quic]\nengine = "matrixai"\n`);
  assert.equal(problems.length, 1, JSON.stringify(problems));
  assert.equal(problems[0]?.path, 'quic.engine');
  assert.equal(problems[0]?.line, 3);
  assert.match(
    problems[0]!.message,
    /"matrixai" is no longer available: the @matrixai\/quic engine was removed/,
  );
  assert.match(problems[0]!.hint!, /remove the setting .*npm run build:native/);
  const [fromEnv] = problemsOf(`${MINIMAL}[quic]\n`, { GRID_QUIC_ENGINE: 'matrixai' });
  assert.equal(fromEnv?.source, 'env GRID_QUIC_ENGINE');
  assert.match(fromEnv!.message, /no longer available/);
  // Any other value keeps the schema's own words.
  assert.match(problemsOf(`${MINIMAL}[quic]\nengine = "quinn"\n`)[0]!.message, /must be/);
});
