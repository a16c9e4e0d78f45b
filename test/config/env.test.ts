import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configEnvVars, envVarName, nonConfigEnvVars } from '../../server/config/index.ts';
import { load, MINIMAL, problemsOf, README_KEY } from './helpers.ts';

test('the rule: GRID_ + key path joined by _, uppercased', () => {
  assert.equal(envVarName(['public_address']), 'GRID_PUBLIC_ADDRESS');
  assert.equal(envVarName(['http', 'binding']), 'GRID_HTTP_BINDING');
  assert.equal(envVarName(['limit', 'peer', 'medias']), 'GRID_LIMIT_PEER_MEDIAS');
  assert.equal(envVarName(['log', 'terminal', 'format']), 'GRID_LOG_TERMINAL_FORMAT');
  for (const name of [
    'GRID_PUBLIC_ADDRESS',
    'GRID_HTTP_BINDING',
    'GRID_LIMIT_PEER_MEDIAS',
    'GRID_LOG_TERMINAL_FORMAT',
  ]) {
    assert.ok(configEnvVars.has(name), name);
  }
});

test('GRID_PUBLIC_ADDRESS gives each pod its own address and replaces the file value', () => {
  assert.equal(
    load(MINIMAL, { GRID_PUBLIC_ADDRESS: 'grid-3.voice.example.com:4433' }).public_address,
    'grid-3.voice.example.com:4433',
  );
  assert.equal(load('', { GRID_PUBLIC_ADDRESS: '203.0.113.9' }).public_address, '203.0.113.9');
});

test('values are parsed by the schema type', () => {
  const config = load(MINIMAL, {
    GRID_VERBOSITY: '2',
    GRID_LIMIT_PEER_MEDIAS: '4',
    GRID_QUIC_MIGRATION: 'false',
    GRID_LOG_TERMINAL_FORMAT: 'json',
    GRID_HTTP_WEBRTC_CANDIDATES: '203.0.113.7, voice.example.com',
    GRID_METRICS_ALLOWED: '["10.0.0.0/8", "fd00::/8"]',
    GRID_LIMIT_NETWORK_INCOMING_MEDIA_PACKETS: '{rate=100,capacity=200}',
    GRID_METRICS_GLOBAL_LABELS: '{ region = "eu" }',
  });
  assert.equal(config.verbosity, 2);
  assert.equal(config.limit.peer.medias, 4);
  assert.equal(config.quic?.migration, false);
  assert.equal(config.log.terminal.format, 'json');
  assert.deepEqual(config.http?.webrtc_candidates, ['203.0.113.7', 'voice.example.com']);
  assert.deepEqual(config.metrics?.allowed, ['10.0.0.0/8', 'fd00::/8']);
  assert.deepEqual(config.limit.network.incoming_media_packets, { rate: 100, capacity: 200 });
  assert.deepEqual(config.metrics?.global_labels, { region: 'eu' });
});

test("a variable creates a section the file lacks, with that section's defaults", () => {
  const config = load(MINIMAL, { GRID_QUIC_IDLE_TIMEOUT: '9000' });
  assert.equal(config.quic?.idle_timeout, 9000);
  assert.equal(config.quic?.binding, '0.0.0.0:4433');
  assert.equal(config.http, undefined);
});

test('a whole table and one of its keys can both be set; the key wins', () => {
  const config = load(MINIMAL, {
    GRID_LIMIT_PEER_INCOMING_MESSAGES: '{rate=1,capacity=2,overflow=3}',
    GRID_LIMIT_PEER_INCOMING_MESSAGES_RATE: '7',
  });
  assert.deepEqual(config.limit.peer.incoming_messages, { rate: 7, capacity: 2, overflow: 3 });
});

test('keys can be given as a TOML inline array', () => {
  const k = README_KEY;
  const config = load(MINIMAL, {
    GRID_AUTHORIZATION_KEYS: `[{kid="${k.kid}",kty="OKP",crv="Ed25519",x="${k.x}",d="${k.d}"}]`,
  });
  assert.deepEqual(config.authorization.keys, [{ ...k }]);
});

test('GRID_PROVISIONING_* set [supervisor] keys', () => {
  const config = load(MINIMAL, { GRID_PROVISIONING_URL: 'http://gw:7000/internal' });
  assert.equal(config.supervisor?.url, 'http://gw:7000/internal');
});

test('port variables set the port of the matching binding and enable its section', () => {
  const config = load(`${MINIMAL}[http]\nbinding = "127.0.0.1:4433"\n`, {
    GRID_QUIC_PORT: '5443',
    GRID_HTTP_PORT: '8443',
    GRID_HTTP_WEBRTC_PORT: '9844',
    GRID_METRICS_PORT: '9100',
  });
  assert.equal(config.quic?.binding, '0.0.0.0:5443');
  assert.equal(config.http?.binding, '127.0.0.1:8443');
  assert.equal(config.http?.webrtc_binding, '0.0.0.0:9844');
  assert.equal(config.metrics?.binding, '0.0.0.0:9100');
});

test('a port variable applies after the binding variable and keeps an IPv6 host', () => {
  const config = load(MINIMAL, { GRID_QUIC_BINDING: '[::]:1', GRID_QUIC_PORT: '2' });
  assert.equal(config.quic?.binding, '[::]:2');
});

test('an unknown GRID_ variable is an error naming it, with a did-you-mean', () => {
  const problems = problemsOf(MINIMAL, { GRID_HTTP_BINDNG: '0.0.0.0:1', GRID_QUIC_PROT: '1' });
  assert.deepEqual(
    problems.map((p) => [p.source, p.hint]),
    [
      ['env GRID_HTTP_BINDNG', 'did you mean "GRID_HTTP_BINDING"?'],
      ['env GRID_QUIC_PROT', 'did you mean "GRID_QUIC_PORT"?'],
    ],
  );
  assert.match(problems[0]?.message ?? '', /unknown GRID_ variable/);
});

test('documented non-config GRID_ variables and unrelated variables are ignored', () => {
  assert.deepEqual(
    [...nonConfigEnvVars],
    ['GRID_CONFIG', 'GRID_LICENSE', 'GRID_LICENSE_ISSUERS', 'GRID_PORTS_FILE'],
  );
  const env = {
    GRID_CONFIG: '/etc/grid/config.toml',
    GRID_LICENSE: '/x',
    GRID_LICENSE_ISSUERS: 'a5J2bhmU7vsY0LrW1zt56iUdmhRUNz7Pl9eBoCy29d8',
    GRID_PORTS_FILE: '/etc/odin/ports/ports',
    HOME: '/root',
    GRIDX: '1',
  };
  assert.doesNotThrow(() => load(MINIMAL, env));
});

test('an empty variable counts as unset', () => {
  assert.equal(load(MINIMAL, { GRID_VERBOSITY: '', GRID_QUIC_PORT: '' }).quic, undefined);
});

test('unparsable values are errors naming the variable and the key', () => {
  const problems = problemsOf(MINIMAL, {
    GRID_QUIC_IDLE_TIMEOUT: '30s',
    GRID_QUIC_MIGRATION: 'yes',
    GRID_LIMIT_NETWORK_INCOMING_MEDIA_PACKETS: 'rate=1',
    GRID_METRICS_PORT: '70000',
  });
  assert.deepEqual(
    problems.map((p) => [p.source, p.path, p.message.split(':')[0]]),
    [
      ['env GRID_QUIC_IDLE_TIMEOUT', 'quic.idle_timeout', 'expected an integer (milliseconds), got "30s"'],
      ['env GRID_QUIC_MIGRATION', 'quic.migration', 'expected true or false, got "yes"'],
      [
        'env GRID_LIMIT_NETWORK_INCOMING_MEDIA_PACKETS',
        'limit.network.incoming_media_packets',
        'expected a TOML inline table, e.g. {rate=100,capacity=200}',
      ],
      ['env GRID_METRICS_PORT', 'metrics.binding', 'expected a port number 0..65535, got "70000"'],
    ],
  );
});

test('schema errors in an overridden value name the variable, not a file line', () => {
  const problems = problemsOf(`${MINIMAL}verbosity = 1\n`, {
    GRID_VERBOSITY: '7',
    GRID_HTTP_BINDING: 'nope',
  });
  assert.deepEqual(
    problems.map((p) => [p.source, p.line, p.path]),
    [
      ['env GRID_VERBOSITY', undefined, 'verbosity'],
      ['env GRID_HTTP_BINDING', undefined, 'http.binding'],
    ],
  );
});

test('a required key missing from a section a variable created is blamed on that variable', () => {
  const [p] = problemsOf(MINIMAL, { GRID_SUPERVISOR_REPORT_INTERVAL: '1000' });
  assert.equal(p?.source, 'env GRID_SUPERVISOR_REPORT_INTERVAL');
  assert.equal(p?.path, 'supervisor.url');
  assert.match(p?.hint ?? '', /GRID_SUPERVISOR_URL/);
});

test('the same key set twice through the alias is an error', () => {
  const problems = problemsOf(MINIMAL, {
    GRID_SUPERVISOR_URL: 'http://a/',
    GRID_PROVISIONING_URL: 'http://b/',
  });
  assert.equal(problems.length, 1);
  assert.match(problems[0]?.message ?? '', /also set by GRID_/);
});

test('a variable cannot replace a non-table value of the file', () => {
  const problems = problemsOf(`${MINIMAL}limit = 3\n`, { GRID_LIMIT_MAX_ROOMS: '1' });
  assert.ok(
    problems.some((p) => p.source === 'env GRID_LIMIT_MAX_ROOMS' && /is not a table/.test(p.message)),
  );
});

test('bad env variables are reported even when the TOML does not parse', () => {
  const problems = problemsOf('public_address = ', { GRID_NOPE: '1' });
  assert.deepEqual(
    problems.map((p) => p.source),
    ['config.toml', 'env GRID_NOPE'],
  );
});
