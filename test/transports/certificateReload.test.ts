/**
 * Certificates that renew themselves (docs/operations.md): `[http]` and `[quic]` re-read
 * `certificate_file`/`privatekey_file` when they change, swapped in as Kubernetes swaps a
 * mounted Secret (helpers/atomicWriter.ts); new handshakes get the new certificate over real
 * TLS and QUIC sockets, open connections and rooms keep going, a bad pair is refused.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createDevCertificate, type DevCertificate } from '../../server/dev/certificate.ts';
import { silentLogger } from '../../server/observability/log.ts';
import { GridMetrics } from '../../server/observability/metrics.ts';
import { CertificateReloader, checkCertificatePair } from '../../server/tls/certificateReloader.ts';
import { QuicListener } from '../../server/transports/quic/quicListener.ts';
import { writeAtomically } from '../helpers/atomicWriter.ts';
import {
  pemFingerprint,
  quicFingerprint as quicFingerprintOf,
  tlsFingerprint as tlsFingerprintOf,
} from '../helpers/fingerprints.ts';
import { needsNativeAddon } from '../helpers/nativeAddon.ts';
import { LOOPBACK, startTestGrid, type TestGrid } from '../helpers/testGrid.ts';
import { WAIT_CAP_MS } from '../helpers/waitFor.ts';
import { freeUdpPort } from './quic/helpers.ts';

const fingerprintOf = (cert: DevCertificate) => pemFingerprint(cert.certificatePem);
const bytes = (text: string) => new TextEncoder().encode(text);
const DAY_MS = 86_400_000;
const tlsFingerprint = (port: number) => tlsFingerprintOf(LOOPBACK, port);
const quicFingerprint = (port: number) => quicFingerprintOf(LOOPBACK, port);

/** Resolves once `check()` resolves true; fails after `timeoutMs` (a cap, not a pace). */
async function until(
  check: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = WAIT_CAP_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('checkCertificatePair', () => {
  let a: DevCertificate;
  let b: DevCertificate;
  before(async () => {
    [a, b] = await Promise.all([createDevCertificate(['localhost']), createDevCertificate(['localhost'])]);
  });

  test('accepts a matching pair and reports its fingerprint and expiry', () => {
    const pair = checkCertificatePair(a.certificatePem, a.privateKeyPem, new Date());
    assert.match(pair.sha256, /^[0-9a-f]{64}$/);
    assert.ok(pair.notAfter.getTime() > Date.now());
  });

  test('refuses an unparsable certificate, a foreign key and an expired certificate, saying which', () => {
    assert.throws(
      () => checkCertificatePair('not a pem', a.privateKeyPem, new Date()),
      /not a PEM X\.509 certificate/,
    );
    assert.throws(
      () => checkCertificatePair(a.certificatePem, 'garbage', new Date()),
      /not a PEM private key/,
    );
    assert.throws(
      () => checkCertificatePair(a.certificatePem, b.privateKeyPem, new Date()),
      /not the key of the certificate/,
    );
    assert.throws(
      () => checkCertificatePair(a.certificatePem, a.privateKeyPem, new Date(Date.now() + 30 * DAY_MS)),
      /the certificate expired at /,
    );
  });
});

describe('CertificateReloader re-checks on its interval what no watch sees', () => {
  test('a swap of a directory the path goes through (unwatched) is picked up by the re-check', async (t) => {
    // certificate_file = root/current/tls.crt, `current` a symlink to a folder: the watch is on
    // the folder `current` points to, and the swap happens in root, which nobody watches.
    const root = await mkdtemp(join(tmpdir(), 'grid-cert-interval-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const [first, renewed] = await Promise.all([
      createDevCertificate([LOOPBACK]),
      createDevCertificate([LOOPBACK]),
    ]);
    for (const [dir, pair] of [
      ['a', first],
      ['b', renewed],
    ] as const) {
      await mkdir(join(root, dir));
      await writeFile(join(root, dir, 'tls.crt'), pair.certificatePem);
      await writeFile(join(root, dir, 'tls.key'), pair.privateKeyPem);
    }
    await symlink('a', join(root, 'current'));
    const applied: string[] = [];
    const reloader = await CertificateReloader.open({
      certificateFile: join(root, 'current/tls.crt'),
      privateKeyFile: join(root, 'current/tls.key'),
      section: '[http]',
      logger: silentLogger(),
      apply: (pair) => applied.push(pair.sha256),
      recheckMs: 200,
    });
    t.after(() => reloader.close());
    assert.equal(reloader.current.sha256, fingerprintOf(first));
    await symlink('b', join(root, 'next'));
    await rename(join(root, 'next'), join(root, 'current'));
    await until(() => applied.length === 1, 'the re-check to take the renewed pair');
    assert.deepEqual(applied, [fingerprintOf(renewed)]);
    assert.equal(reloader.current.sha256, fingerprintOf(renewed));
    assert.equal(reloader.stats.reloads, 1);
  });
});

describe('certificate reload on a running grid (real TLS and QUIC sockets)', needsNativeAddon, () => {
  let grid: TestGrid;
  let quicPort: number;
  let quic: QuicListener;

  before(async () => {
    quicPort = await freeUdpPort();
    grid = await startTestGrid({
      toml: `[quic]\nbinding = "${LOOPBACK}:${quicPort}"\n`,
      quicTls: true,
    });
    quic = grid.listeners.find((l): l is QuicListener => l instanceof QuicListener)!;
  });
  after(() => grid.close());

  test('new handshakes get the renewed certificate; the open WebSocket and its room keep talking', async () => {
    const before = pemFingerprint(grid.ca);
    assert.equal(await tlsFingerprint(grid.webListener.port), before);
    assert.equal(await quicFingerprint(quic.port), before);

    const alice = await grid.connect('alice', 'talk');
    const bob = await grid.connect('bob', 'talk');
    const aliceRoom = await alice.joinRoom('talk');
    const bobRoom = await bob.joinRoom('talk');

    const renewed = await createDevCertificate([LOOPBACK, 'localhost']);
    await writeAtomically(grid.tlsDir, {
      'tls.crt': renewed.certificatePem,
      'tls.key': renewed.privateKeyPem,
    });
    const after = fingerprintOf(renewed);
    await until(
      async () => (await tlsFingerprint(grid.webListener.port)) === after,
      'the new certificate on TLS',
    );
    assert.equal(await quicFingerprint(quic.port), after, 'QUIC presents the new certificate too');
    assert.equal(quic.certificateSha256, after, 'WebTransport serverCertificateHashes follow');
    assert.equal(grid.webListener.certificateStats?.reloads, 1);
    assert.equal(quic.certificateStats?.reloads, 1);
    assert.equal(grid.logs.find('[http] certificate reloaded').length, 1);

    // The connections made before the swap still work, both ways.
    assert.ok(alice.main.isOpen && bob.main.isOpen);
    const heard = bobRoom.next('message');
    await aliceRoom.sendMessage(bytes('after the renewal'));
    assert.deepEqual((await heard)[0].message, bytes('after the renewal'));
    // A newcomer trusts only the new certificate and joins the same conversation.
    const carol = await grid.connect('carol', 'talk', { ca: renewed.certificatePem });
    const carolRoom = await carol.joinRoom('talk');
    const toCarol = carolRoom.next('message');
    await bobRoom.sendMessage(bytes('hello carol'));
    assert.deepEqual((await toCarol)[0].message, bytes('hello carol'));
    await assert.rejects(
      grid.connect('dave', 'talk', { ca: grid.ca }),
      'a client trusting only the old certificate no longer connects',
    );
  });

  test('a bad pair is refused with a log line and a count; the certificate in service stays', async () => {
    const inService = grid.webListener.certificateSha256!;
    const reloads = grid.webListener.certificateStats!.reloads;
    const [other, expired] = await Promise.all([
      createDevCertificate([LOOPBACK]),
      createDevCertificate([LOOPBACK], new Date(Date.now() - 20 * DAY_MS)),
    ]);
    const cases: [string, Record<string, string>, RegExp][] = [
      [
        'unparsable',
        { 'tls.crt': 'garbage\n', 'tls.key': other.privateKeyPem },
        /not a PEM X\.509 certificate/,
      ],
      [
        'key mismatch',
        { 'tls.crt': other.certificatePem, 'tls.key': expired.privateKeyPem },
        /not the key of the certificate/,
      ],
      ['expired', { 'tls.crt': expired.certificatePem, 'tls.key': expired.privateKeyPem }, /expired at/],
    ];
    let refused = 0;
    for (const [name, files, reason] of cases) {
      await writeAtomically(grid.tlsDir, files);
      refused++;
      await until(() => grid.webListener.certificateStats!.refused === refused, `${name} refused on [http]`);
      await until(() => quic.certificateStats!.refused === refused, `${name} refused on [quic]`);
      const line = grid.logs.find('[http] certificate reload refused').at(-1);
      assert.ok(line && line.level >= 50, `${name}: an error log line`);
      assert.match(String(line.reason), reason);
      assert.equal(
        await tlsFingerprint(grid.webListener.port),
        inService,
        `${name}: TLS keeps the old certificate`,
      );
      assert.equal(await quicFingerprint(quic.port), inService, `${name}: QUIC keeps the old certificate`);
    }
    assert.equal(grid.webListener.certificateStats!.reloads, reloads, 'nothing was reloaded');
    // The key never reaches the logs.
    const text = JSON.stringify(grid.logs.lines);
    assert.ok(!text.includes('PRIVATE KEY'), 'no key material in the logs');
    // A good pair afterwards is taken.
    await writeAtomically(grid.tlsDir, { 'tls.crt': other.certificatePem, 'tls.key': other.privateKeyPem });
    await until(
      async () => (await tlsFingerprint(grid.webListener.port)) === fingerprintOf(other),
      'the good pair',
    );
  });
});

describe('grid_tls_certificate_* metrics', () => {
  test('count reloads and refusals and export the expiry, by listener', async () => {
    const metrics = new GridMetrics({ config: { global_labels: {} }, defaultMetrics: false });
    const stats = { reloads: 2, refused: 1, notAfterMs: 1_900_000_000_000 };
    metrics.watchCertificates({ http: () => stats, quic: () => undefined });
    const { text } = await metrics.scrape();
    assert.match(text, /grid_tls_certificate_reloads_total\{listener="http",result="success"\} 2/);
    assert.match(text, /grid_tls_certificate_reloads_total\{listener="http",result="refused"\} 1/);
    assert.match(text, /grid_tls_certificate_expiry_timestamp_seconds\{listener="http"\} 1900000000/);
    assert.doesNotMatch(text, /listener="quic"/, 'no series for a listener without certificate files');
  });
});
