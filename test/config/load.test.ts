import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ConfigError,
  defaultAuthorizationConfig,
  defaultHttpConfig,
  defaultLimitConfig,
  defaultLogConfig,
  defaultMetricsConfig,
  defaultQuicConfig,
  defaultShutdownConfig,
  defaultSupervisorConfig,
  loadConfig,
  parseConfigText,
} from '../../server/config/index.ts';
import { EXAMPLE_KEY, load, MINIMAL, problemsOf, README_KEY } from './helpers.ts';

test('a minimal config gets every default', () => {
  const config = load(MINIMAL);
  assert.equal(config.public_address, 'voice.example.com:4433');
  assert.equal(config.verbosity, 0);
  assert.deepEqual(config.authorization, { allow_unsigned: false, leeway: 5000, keys: [] });
  assert.deepEqual(config.limit.peer.incoming_messages, { rate: 10, capacity: 50, overflow: 20 });
  assert.equal(config.limit.peer.concurrent_streams, 0);
  assert.equal(config.limit.max_clients, undefined, 'absent = unlimited');
  assert.equal(config.limit.network.incoming_media_packets, undefined, 'absent = unlimited');
  assert.deepEqual(config.internal, { log_rejected_api_calls: false }, 'no hang warnings, no bundling');
  assert.deepEqual(config.log.terminal, { format: 'text', filters: [] });
  assert.deepEqual(config.shutdown, { grace_period: 30000 });
});

test('absent optional sections stay undefined: the feature is disabled', () => {
  const config = load(MINIMAL);
  assert.equal(config.quic, undefined);
  assert.equal(config.http, undefined);
  assert.equal(config.metrics, undefined);
  assert.equal(config.supervisor, undefined);
  assert.equal(config.telemetry, undefined);
});

test('an empty section is enabled with its defaults (gateway-recommended values)', () => {
  const config = load(`${MINIMAL}[quic]\n[http]\n[metrics]\n`);
  assert.deepEqual(config.quic, {
    binding: '0.0.0.0:4433',
    migration: true,
    keep_alive_interval: 5000,
    idle_timeout: 30000,
    pre_send_timeout: 500,
    connect_timeout: 5000,
    no_peers_timeout: 30000,
    engine: 'native',
  });
  assert.equal(config.http?.binding, '0.0.0.0:4433');
  assert.equal(config.http?.webrtc_binding, '0.0.0.0:8844');
  assert.equal(config.http?.timeout, 10000);
  assert.equal(config.http?.ping_interval, 5000);
  assert.equal(config.metrics?.binding, '0.0.0.0:9000');
  assert.deepEqual(config.metrics?.allowed, []);
});

test('defaultXxx values are the schema defaults', () => {
  const config = load(`${MINIMAL}[quic]\n[http]\n[metrics]\n[supervisor]\nurl = "http://gw/"\n`);
  assert.deepEqual(config.quic, defaultQuicConfig);
  assert.deepEqual(config.http, defaultHttpConfig);
  assert.deepEqual(config.metrics, defaultMetricsConfig);
  assert.deepEqual(config.limit, defaultLimitConfig);
  assert.deepEqual(config.log, defaultLogConfig);
  assert.deepEqual(config.shutdown, defaultShutdownConfig);
  assert.deepEqual(config.authorization, defaultAuthorizationConfig);
  assert.deepEqual(config.supervisor, { url: 'http://gw/', ...defaultSupervisorConfig });
  assert.ok(Object.isFrozen(defaultQuicConfig));
});

test('values given in the file win over defaults', () => {
  const config = load(`${MINIMAL}verbosity = 2\n[quic]\nidle_timeout = 1000\nmigration = false\n`);
  assert.equal(config.verbosity, 2);
  assert.equal(config.quic?.idle_timeout, 1000);
  assert.equal(config.quic?.migration, false);
  assert.equal(config.quic?.keep_alive_interval, 5000);
});

test('keys load from [[authorization.keys]] tables', () => {
  const config = load(`${MINIMAL}
[[authorization.keys]]
kid = "${README_KEY.kid}"
kty = "OKP"
crv = "Ed25519"
x = "${README_KEY.x}"
d = "${README_KEY.d}"

[[authorization.keys]]
kid = "${EXAMPLE_KEY.kid}"
kty = "OKP"
crv = "Ed25519"
x = "${EXAMPLE_KEY.x}"
`);
  assert.deepEqual(config.authorization.keys, [
    { ...README_KEY },
    { kid: EXAMPLE_KEY.kid, kty: 'OKP', crv: 'Ed25519', x: EXAMPLE_KEY.x },
  ]);
});

test('keys load from an inline array', () => {
  const config = load(`${MINIMAL}
[authorization]
allow_unsigned = true
keys = [
  { kid = "${README_KEY.kid}", kty = "OKP", crv = "Ed25519", x = "${README_KEY.x}", d = "${README_KEY.d}" },
]
`);
  assert.deepEqual(config.authorization.keys, [{ ...README_KEY }]);
  assert.equal(config.authorization.allow_unsigned, true);
});

test('[provisioning] is accepted as the newer name of [supervisor]', () => {
  const config = load(
    `${MINIMAL}[provisioning]\nurl = "http://grid:pw@gateway:7000/internal"\nno_warmup = true\n`,
  );
  assert.deepEqual(config.supervisor, {
    url: 'http://grid:pw@gateway:7000/internal',
    report_interval: 5000,
    no_warmup: true,
  });
  assert.equal('provisioning' in config, false);
});

test('[provisioning] and [supervisor] together are an error at the [provisioning] line', () => {
  const problems = problemsOf(
    `${MINIMAL}[supervisor]\nurl = "http://a/"\n[provisioning]\nurl = "http://b/"\n`,
  );
  assert.equal(problems.length, 1);
  assert.equal(problems[0]?.path, 'provisioning');
  assert.equal(problems[0]?.line, 4);
  assert.match(problems[0]?.message ?? '', /same section/);
});

test('errors inside [provisioning] are named as the file spells them', () => {
  const problems = problemsOf(`${MINIMAL}[provisioning]\nurl = "http://a/"\nreport_intervall = 5\n`);
  assert.equal(problems[0]?.path, 'provisioning.report_intervall');
  assert.equal(problems[0]?.line, 4);
  assert.equal(problems[0]?.hint, 'did you mean "report_interval"?');
});

test('loadConfig reads the file and names it in errors', async (t) => {
  const { tempDir } = await import('./helpers.ts');
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const dir = tempDir();
  const file = join(dir, 'config.toml');
  writeFileSync(file, `${MINIMAL}[quic]\nbindng = "0.0.0.0:1"\n`);
  await t.test('problems carry the path', async () => {
    await assert.rejects(loadConfig({ path: file }), (e: Error) => {
      assert.equal(e.message, `${file}:3:1: quic.bindng: unknown key; did you mean "binding"?`);
      return true;
    });
  });
  await t.test('text replaces the file content', async () => {
    const config = await loadConfig({ path: file, text: MINIMAL });
    assert.equal(config.quic, undefined);
  });
  await t.test('a missing file is a ConfigError', async () => {
    await assert.rejects(
      loadConfig({ path: join(dir, 'nope.toml') }),
      /nope\.toml: cannot read the config file: no such file/,
    );
  });
});

test('webrtc_enforce_tcp = true is accepted (TCP-only candidates, webrtc/iceTcp.ts)', () => {
  const text =
    'public_address = "localhost"\n[http]\nbinding = "127.0.0.1:4433"\nwebrtc_enforce_tcp = true\n';
  assert.equal(parseConfigText(text, { source: 'tcp.toml' }).http?.webrtc_enforce_tcp, true);
});

describe('keys read as the ODIN docs word them', () => {
  test('[supervisor] version is a number (a string is accepted too); anything else is refused', () => {
    const supervised = (value: string) => `${MINIMAL}[supervisor]\nurl = "http://g/"\nversion = ${value}\n`;
    assert.equal(load(supervised('123456')).supervisor?.version, 123456);
    assert.equal(load(supervised('"2024.1"')).supervisor?.version, '2024.1');
    assert.deepEqual(
      problemsOf(supervised('true')).map((p) => `${p.path}: ${p.message}`),
      ['supervisor.version: expected an integer or a string, got true'],
    );
    const fromEnv = load(`${MINIMAL}[supervisor]\nurl = "http://g/"\n`, { GRID_SUPERVISOR_VERSION: '42' });
    assert.equal(fromEnv.supervisor?.version, 42, 'a number from the environment stays a number');
  });

  test('[telemetry] data lists [license] fields; absent means all four', () => {
    const telemetry = (extra: string) => `${MINIMAL}[telemetry]\naddress = "http://t/"\n${extra}`;
    assert.deepEqual(load(telemetry('')).telemetry?.data, [
      'LicenseValidUntil',
      'LicenseLicensee',
      'LicenseSerialNumber',
      'LicenseIssuer',
    ]);
    assert.deepEqual(load(telemetry('data = []\n')).telemetry?.data, []);
    assert.equal(load(telemetry('')).telemetry?.max_consecutive_failures, undefined, 'absent: never stop');
    const problems = problemsOf(telemetry('data = ["LicenseIssuer", "LicenseLicense", "LicenseIssuer"]\n'));
    assert.deepEqual(
      problems.map((p) => `${p.path}: ${p.message}`),
      [
        'telemetry.data[1]: must be one of "LicenseValidUntil", "LicenseLicensee", "LicenseSerialNumber", "LicenseIssuer" (got "LicenseLicense")',
        'telemetry.data[2]: "LicenseIssuer" is listed twice',
      ],
    );
    assert.equal(problems[0]?.hint, 'did you mean "LicenseLicensee"?');
    assert.match(
      problemsOf(telemetry('data = { deployment = "eu" }\n'))[0]?.message ?? '',
      /expected an array, got a table/,
    );
  });

  test('[internal] log_hanging_api_calls is a threshold in ms; bundle_events is accepted as ms or a switch', () => {
    const internal = (body: string) => `${MINIMAL}[internal]\n${body}`;
    assert.equal(load(internal('log_hanging_api_calls = 1_000 # ms\n')).internal.log_hanging_api_calls, 1000);
    assert.match(
      problemsOf(internal('log_hanging_api_calls = true\n'))[0]?.message ?? '',
      /expected an integer \(milliseconds\), got true/,
    );
    assert.equal(load(internal('bundle_events = 20 # ms\n')).internal.bundle_events, 20);
    assert.equal(load(internal('bundle_events = true\n')).internal.bundle_events, true);
    assert.equal(load(internal(''), { GRID_INTERNAL_BUNDLE_EVENTS: 'true' }).internal.bundle_events, true);
  });

  test('public_address is required without a supervisor, and may be left to one', () => {
    const problems = problemsOf('[quic]\n');
    assert.deepEqual(
      problems.map((p) => `${p.path}: ${p.message}`),
      ['public_address: missing required key'],
    );
    assert.match(problems[0]?.hint ?? '', /GRID_PUBLIC_ADDRESS/);
    assert.equal(load('[supervisor]\nurl = "http://g/"\n').public_address, undefined);
    assert.equal(load('[quic]\n', { GRID_PUBLIC_ADDRESS: 'a.example' }).public_address, 'a.example');
  });
});

test('[log.terminal] filters take bare module names as the ODIN example configs write them', () => {
  const filters = (list: string) => `${MINIMAL}[log.terminal]\nfilters = ${list}\n`;
  assert.deepEqual(load(filters('["webrtc", "webrtc_ice"]')).log.terminal.filters, ['webrtc', 'webrtc_ice']);
  assert.deepEqual(
    problemsOf(filters('["webrtc=loud", "two words"]')).map((p) => p.path),
    ['log.terminal.filters[0]', 'log.terminal.filters[1]'],
  );
});
