/**
 * The `grid` command line, run as a real process the way a user runs it.
 * Each test works in its own temporary directory, so the development default's `.grid-dev/`
 * and any config.toml stay there.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { accessKeyToJwk, TokenVerifier } from '../../common/auth/index.ts';
import { signLicense } from '../../common/license/index.ts';
import { waitFor } from '../helpers/waitFor.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const gridMain = join(repo, 'server/main.ts');
const example = (name: string) => join(repo, 'examples/config', name);
const readmeAccessKey = 'AeRWMNanQAYxNKhChHvNtS+1D5fw2Xzvj2r6Woi7Bg0d';

const directories: string[] = [];
async function workDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'grid-cli-'));
  directories.push(dir);
  return dir;
}
after(async () => {
  await Promise.all(directories.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Environment without the caller's GRID_* variables, so the developer's shell can't leak in. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('GRID_')) env[key] = value;
  return { ...env, ...extra };
}

type Result = { code: number | null; stdout: string; stderr: string };

function start(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): ChildProcess {
  return spawn(process.execPath, [gridMain, ...args], {
    cwd: options.cwd ?? repo,
    env: cleanEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function collect(child: ChildProcess): Promise<Result> & { output: () => string } {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  const done = new Promise<Result>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return Object.assign(done, { output: () => stdout + stderr });
}

function grid(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<Result> {
  return collect(start(args, options));
}

describe('grid --help and usage errors', () => {
  test('--help lists the commands and the exit codes', async () => {
    const { code, stdout } = await grid(['--help']);
    assert.equal(code, 0);
    for (const command of ['check', 'keys new', 'token', 'license sign'])
      assert.match(stdout, new RegExp(command));
    assert.match(stdout, /Exit codes/);
  });

  test('every command has --help', async () => {
    for (const command of [['check'], ['keys'], ['token'], ['license']]) {
      const { code, stdout } = await grid([...command, '--help']);
      assert.equal(code, 0, `${command.join(' ')} --help`);
      assert.match(stdout, /^Usage: grid/m);
    }
  });

  test('an unknown command exits 2 and says how to get help', async () => {
    const { code, stderr } = await grid(['serve']);
    assert.equal(code, 2);
    assert.match(stderr, /unknown command 'serve'/);
    assert.match(stderr, /grid --help/);
  });

  test('an unknown flag exits 2 naming the flag', async () => {
    const { code, stderr } = await grid(['check', '--verbose']);
    assert.equal(code, 2);
    assert.match(stderr, /--verbose/);
  });
});

describe('grid check', () => {
  test('accepts the ODIN docs example configs (standalone and supervised)', async () => {
    for (const name of ['standalone.toml', 'supervised.toml']) {
      const { code, stderr } = await grid(['check', '--skip-file-checks', '--config', example(name)]);
      assert.equal(code, 0, `${name}: ${stderr}`);
      assert.match(stderr, /is valid/);
    }
  });

  test('reports every problem of a broken config at once, with file:line and key, exit 3', async () => {
    const { code, stderr } = await grid(['check', '--config', example('broken.toml')]);
    assert.equal(code, 3);
    const problems = stderr.split('\n').filter((line) => line.includes('broken.toml:'));
    assert.ok(problems.length >= 8, `expected many problems, got:\n${stderr}`);
    assert.match(stderr, /broken\.toml:\d+:\d+: http\.bindng: unknown key; did you mean "binding"\?/);
    assert.match(stderr, /broken\.toml:\d+:\d+: limit\.peer\.concurrent_streams: 9 is out of range/);
  });

  test('a missing --config file is an error, not the development default', async () => {
    const cwd = await workDir();
    const { code, stderr } = await grid(['check', '--config', 'nope.toml'], { cwd });
    assert.equal(code, 3);
    assert.match(stderr, /nope\.toml.*does not exist/);
  });

  test('with no config.toml it checks the development default and redacts its private key', async () => {
    const cwd = await workDir();
    const { code, stdout } = await grid(['check'], { cwd });
    assert.equal(code, 0);
    assert.match(stdout, /development default/);
    assert.match(stdout, /d = "<redacted>"/);
    const accessKey = (await readFile(join(cwd, '.grid-dev/access-key'), 'utf8')).trim();
    assert.ok(!stdout.includes(accessKey));
  });

  test('GRID_* variables override the file, and an unknown one is refused by name', async () => {
    const overridden = await grid(['check', '--skip-file-checks', '--config', example('standalone.toml')], {
      env: { GRID_PUBLIC_ADDRESS: '203.0.113.7:4433', GRID_LIMIT_PEER_MEDIAS: '3' },
    });
    assert.equal(overridden.code, 0, overridden.stderr);
    assert.match(overridden.stdout, /public_address = "203\.0\.113\.7:4433"/);
    assert.match(overridden.stdout, /medias = 3/);

    const unknown = await grid(['check', '--skip-file-checks', '--config', example('standalone.toml')], {
      env: { GRID_HTTP_BINDNG: '0.0.0.0:1' },
    });
    assert.equal(unknown.code, 3);
    assert.match(unknown.stderr, /GRID_HTTP_BINDNG/);
  });
});

describe('grid keys and grid token', () => {
  test('grid keys new prints an access key whose section a server accepts and whose tokens verify', async () => {
    const cwd = await workDir();
    const keys = await grid(['keys', 'new'], { cwd });
    assert.equal(keys.code, 0);
    const accessKey = /^# (A[A-Za-z0-9+/]{43})$/m.exec(keys.stdout)?.[1];
    assert.ok(accessKey, keys.stdout);
    await writeFile(join(cwd, 'config.toml'), `public_address = "localhost"\n${keys.stdout}`);
    const check = await grid(['check', '--quiet'], { cwd });
    assert.equal(check.code, 0, check.stderr);

    // No --access-key: the token is signed with the config's key (it has d).
    const token = await grid(['token', '--room', 'lobby', '--user', 'alice'], { cwd });
    assert.equal(token.code, 0, token.stderr);
    const section = /x = "([^"]+)"[\s\S]*kid = "([^"]+)"|kid = "([^"]+)"[\s\S]*x = "([^"]+)"/.exec(
      keys.stdout,
    )!;
    const kid = section[2] ?? section[3]!;
    const x = section[1] ?? section[4]!;
    const verifier = new TokenVerifier({
      keys: [{ kid, kty: 'OKP', crv: 'Ed25519', x }],
      allowUnsigned: false,
      leewayMs: 0,
    });
    const verified = await verifier.verify(token.stdout.trim());
    assert.equal(verified.userId, 'alice');
    assert.deepEqual(verified.roomIds, ['lobby']);
  });

  test('grid token with an access key mints a token for several rooms with the given lifetime', async () => {
    const { code, stdout } = await grid([
      'token',
      '--access-key',
      readmeAccessKey,
      '--room',
      'a',
      '--room',
      'b',
      '--user',
      'bob',
      '--lifetime',
      '60',
    ]);
    assert.equal(code, 0);
    const verifier = new TokenVerifier({
      keys: [
        { kid: 'Afkwfu4BVHDh', kty: 'OKP', crv: 'Ed25519', x: 'a5J2bhmU7vsY0LrW1zt56iUdmhRUNz7Pl9eBoCy29d8' },
      ],
      allowUnsigned: false,
      leewayMs: 0,
    });
    const verified = await verifier.verify(stdout.trim());
    assert.deepEqual(verified.roomIds, ['a', 'b']);
    assert.equal((verified.expiresAt ?? 0) - (verified.notBefore ?? 0), 60_000);
  });

  test('grid token without a signing key says what is missing, exit 2', async () => {
    const cwd = await workDir();
    await writeFile(
      join(cwd, 'config.toml'),
      `public_address = "localhost"\n[[authorization.keys]]\nkid = "Afkwfu4BVHDh"\nkty = "OKP"\ncrv = "Ed25519"\nx = "a5J2bhmU7vsY0LrW1zt56iUdmhRUNz7Pl9eBoCy29d8"\n`,
    );
    const { code, stderr } = await grid(['token', '--room', 'r', '--user', 'u'], { cwd });
    assert.equal(code, 2);
    assert.match(stderr, /no --access-key.*private part \(d\)/);
  });

  test('grid token refuses a bad access key without echoing it, exit 2', async () => {
    const { code, stderr } = await grid([
      'token',
      '--access-key',
      'AeRWMNanQAYxNKhChHvNtS+1D5fw2Xzvj2r6Woi7Bg0X',
      '--room',
      'r',
      '--user',
      'u',
    ]);
    assert.equal(code, 2);
    assert.match(stderr, /access key/i);
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    assert.ok(!stderr.includes('AeRWMNanQAYxNKhChHvNtS'));
  });
});

describe('grid license', () => {
  async function signedLicense(cwd: string, validUntil: Date): Promise<{ path: string; issuer: string }> {
    const path = join(cwd, 'license.toml');
    const signed = await grid([
      'license',
      'sign',
      '--access-key',
      readmeAccessKey,
      '--licensee',
      'Example Studio',
      '--serial',
      'ES-1',
      '--valid-until',
      validUntil.toISOString(),
      '--out',
      path,
    ]);
    assert.equal(signed.code, 0, signed.stderr);
    const issuer = await grid(['license', 'sign', '--access-key', readmeAccessKey, '--print-issuer']);
    return { path, issuer: issuer.stdout.trim() };
  }

  test('a signed licence verifies against its issuer key and fails when tampered with', async () => {
    const cwd = await workDir();
    const { path, issuer } = await signedLicense(cwd, new Date(Date.now() + 86_400_000));
    const ok = await grid(['license', 'verify', '--license', path, '--issuer-key', issuer]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /licensed to Example Studio/);

    await writeFile(path, (await readFile(path, 'utf8')).replace('Example Studio', 'Other Studio'));
    const tampered = await grid(['license', 'verify', '--license', path, '--issuer-key', issuer]);
    assert.equal(tampered.code, 4);
    assert.match(tampered.stderr, /license\.toml:\d+: .*signature/i);
  });

  test('a licence signed without --valid-until never expires, and verify says so', async () => {
    const cwd = await workDir();
    const path = join(cwd, 'license.toml');
    const signed = await grid(['license', 'sign', '--access-key', readmeAccessKey, '--out', path]);
    assert.equal(signed.code, 0, signed.stderr);
    assert.doesNotMatch(await readFile(path, 'utf8'), /valid_until/);
    const issuer = (await grid(['license', 'sign', '--access-key', readmeAccessKey, '--print-issuer']))
      .stdout;
    const ok = await grid(['license', 'verify', '--license', path, '--issuer-key', issuer.trim()]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /licensed, no expiry date/);
  });

  test('the server refuses to start with a tampered or untrusted licence, exit 4', async () => {
    const cwd = await workDir();
    const { issuer } = await signedLicense(cwd, new Date(Date.now() + 86_400_000));
    const untrusted = await grid([], { cwd });
    assert.equal(untrusted.code, 4);
    assert.match(untrusted.stderr, /not a trusted licence issuer/);

    const path = join(cwd, 'license.toml');
    await writeFile(path, (await readFile(path, 'utf8')).replace('ES-1', 'ES-2'));
    const tampered = await grid([], { cwd, env: { GRID_LICENSE_ISSUERS: issuer } });
    assert.equal(tampered.code, 4);
  });

  test('a licence that expires while the server runs drains it and stops it, exit 4', async () => {
    // The licence must end after the server has started, and a busy machine can take many
    // seconds to start one. It is signed in-process right before the start (two `grid license`
    // processes took most of an 8 s window at load 15); when it still ended first (the start-up
    // refusal, no "licensed to" line), try again with a longer licence rather than judge the
    // machine's speed.
    const issuer = accessKeyToJwk(readmeAccessKey).x;
    for (const lifetimeMs of [10_000, 30_000, 90_000]) {
      const cwd = await workDir();
      const fields = { licensee: 'Example Studio', validUntil: new Date(Date.now() + lifetimeMs) };
      await writeFile(join(cwd, 'license.toml'), signLicense(fields, readmeAccessKey));
      const result = await grid([], {
        cwd,
        env: { GRID_LICENSE_ISSUERS: issuer, GRID_LOG_TERMINAL_FORMAT: 'json' },
      });
      assert.equal(result.code, 4, result.stderr);
      if (!/licensed to Example Studio/.test(result.stdout)) continue;
      assert.match(result.stdout, /the licence has expired: draining and stopping/);
      return;
    }
    assert.fail('the server never started within a licence lifetime of 90 s');
  });
});

describe('[quic] without the native QUIC addon (ODIN_QUIC_ADDON pointing nowhere)', () => {
  const noAddon = { ODIN_QUIC_ADDON: '/nonexistent/odin_quic.node' };
  const buildCommand = 'bash native/quic/setup.sh && npm run build:native';
  async function quicConfig(engineLine = ''): Promise<string> {
    const cwd = await workDir();
    const jwk = accessKeyToJwk(readmeAccessKey);
    const keys = Object.entries(jwk).map(([key, value]) => `${key} = ${JSON.stringify(value)}`);
    const text = `public_address = "127.0.0.1"\n[[authorization.keys]]\n${keys.join('\n')}\n[quic]\nbinding = "127.0.0.1:0"\n${engineLine}`;
    await writeFile(join(cwd, 'config.toml'), text);
    return cwd;
  }

  test('a config with [quic] refuses to start (exit 1), naming the addon and the command that builds it', async () => {
    const cwd = await quicConfig();
    const { code, stdout, stderr } = await grid(['--config', 'config.toml'], { cwd, env: noAddon });
    assert.equal(code, 1, stdout + stderr);
    assert.match(stderr, /grid: \[quic\] needs the native QUIC addon/);
    assert.ok(stderr.includes('/nonexistent/odin_quic.node') && stderr.includes(buildCommand), stderr);
    assert.match(stderr, /or remove \[quic\] from the config/);
    assert.doesNotMatch(stdout, /listening/, 'no listener opened before the refusal');
  });

  test('grid check says the config is valid and warns that this machine cannot run it', async () => {
    const cwd = await quicConfig();
    const { code, stderr } = await grid(['check', '--config', 'config.toml'], { cwd, env: noAddon });
    assert.equal(code, 0, stderr);
    assert.match(stderr, /is valid/);
    assert.match(stderr, /warning: grid would not start here: .*native QUIC addon/);
  });

  test('engine = "matrixai" (the removed engine) is a config error naming the file, the key and what to do', async () => {
    const cwd = await quicConfig('engine = "matrixai"\n');
    const { code, stdout, stderr } = await grid(['--config', 'config.toml'], { cwd, env: noAddon });
    assert.equal(code, 3, stdout + stderr);
    assert.match(
      stderr,
      /config\.toml:\d+:\d+: quic\.engine: "matrixai" is no longer available: the @matrixai\/quic engine was removed/,
    );
    assert.match(stderr, /remove the setting \(or set it to "native"\)/);
    assert.ok(stderr.includes(buildCommand), stderr);
    assert.doesNotMatch(stderr, /must be one of/, 'one explanation, not two');
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  });

  test('npm start with no config still serves [http], without [quic], and says how to build the addon', async () => {
    const cwd = await workDir();
    const check = await grid(['check'], { cwd, env: noAddon });
    assert.equal(check.code, 0, check.stderr);
    assert.doesNotMatch(check.stdout, /^\[quic\]/m);
    const child = start([], { cwd, env: noAddon });
    const result = collect(child);
    await waitFor(() => result.output().includes('more tokens'), 'the dev banner');
    const output = result.output();
    assert.match(output, /web SDK gateway URL/);
    assert.doesNotMatch(output, /quic udp|native \(WebTransport\)/);
    assert.match(
      output,
      /development default: no \[quic\] listener, because the native QUIC addon is not built/,
    );
    assert.ok(output.includes(buildCommand), output);
    child.kill('SIGTERM');
    const { code } = await result;
    assert.equal(code, 0);
  });
});

describe('running grid', () => {
  test('grid re-executes itself with a capped young generation; NODE_OPTIONS overrides the cap', async () => {
    const cwd = await workDir();
    for (const [env, expected] of [
      [{}, /young generation: 2 MiB per semi-space/],
      [{ NODE_OPTIONS: '--max-semi-space-size=8' }, /young generation: 8 MiB per semi-space/],
    ] as const) {
      const child = start([], { cwd, env });
      const result = collect(child);
      await waitFor(() => result.output().includes('more tokens'), 'the dev banner');
      assert.match(result.output(), expected);
      child.kill('SIGTERM');
      const { code, stderr } = await result;
      assert.equal(code, 0, stderr);
    }
  });

  test('npm start with no config runs the development default, prints a banner, and exits 0 on SIGTERM', async () => {
    const cwd = await workDir();
    const child = start([], { cwd });
    const result = collect(child);
    await waitFor(() => result.output().includes('more tokens'), 'the dev banner');
    const banner = result.output();
    assert.match(banner, /certificate SHA-256 \(for serverCertificateHashes\):\s+[0-9a-f]{64}/);
    assert.match(banner, /running unlicensed/);
    const token = /valid 24 h:\s+(\S+)/.exec(banner)?.[1];
    assert.ok(token?.startsWith('eyJ'), 'the banner carries a token');
    child.kill('SIGTERM');
    const { code, stdout } = await result;
    assert.equal(code, 0);
    assert.match(stdout, /stopped/);
  });

  test('the development default is reused on the next start (same key, same certificate)', async () => {
    const cwd = await workDir();
    const first = await grid(['check', '--quiet'], { cwd });
    assert.equal(first.code, 0);
    const key = await readFile(join(cwd, '.grid-dev/access-key'), 'utf8');
    const certificate = await readFile(join(cwd, '.grid-dev/certificate.pem'), 'utf8');
    await grid(['check', '--quiet'], { cwd });
    assert.equal(await readFile(join(cwd, '.grid-dev/access-key'), 'utf8'), key);
    assert.equal(await readFile(join(cwd, '.grid-dev/certificate.pem'), 'utf8'), certificate);
  });

  test('a listener that cannot open (port in use) exits 1 at once, naming the listener and the fix', async () => {
    const cwd = await workDir();
    const holder = createNetServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as AddressInfo).port;
    try {
      await writeFile(
        join(cwd, 'config.toml'),
        `public_address = "localhost"\n[metrics]\nbinding = "127.0.0.1:${port}"\n`,
      );
      // Exiting at all is the verdict, not how fast: a grid that lingers half-started never
      // exits, and the test's own timeout fails it (a wall-clock bound flaked on a busy machine).
      const { code, stderr } = await grid([], { cwd });
      assert.equal(code, 1);
      assert.match(stderr, new RegExp(`metrics 127\\.0\\.0\\.1:${port}: cannot open: .*address is in use`));
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    } finally {
      holder.close();
    }
  });

  test('an invalid config stops the server before it starts, exit 3', async () => {
    const { code, stderr } = await grid(['--config', example('broken.toml')]);
    assert.equal(code, 3);
    assert.match(stderr, /the configuration is invalid/);
  });
});
