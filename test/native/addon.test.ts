/**
 * The napi boundary of the native QUIC addon (native/quic): a panic in Rust is a JavaScript
 * error and the process lives on; malformed calls are errors naming what was wrong. Skipped
 * when the addon is not built (plain `npm test` on a fresh clone); `npm run test:native`
 * builds it and refuses to skip.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadNativeAddon, type NativeEndpointOptions } from '../../server/transports/quic/nativeAddon.ts';
import { SERVER_RECEIVE_WINDOWS } from '../../server/transports/quic/quiche.ts';
import { needsNativeAddon } from '../helpers/nativeAddon.ts';
import { testCertificate } from '../transports/quic/helpers.ts';

async function options(): Promise<NativeEndpointOptions> {
  const cert = await testCertificate();
  return {
    host: '127.0.0.1',
    port: 0,
    certificatePem: cert.certificatePem,
    privateKeyPem: cert.privateKeyPem,
    alpn: ['h3'],
    idleTimeoutMs: 5000,
    migration: true,
    keepAliveMs: 0,
    datagramRecvQueue: 16,
    datagramSendQueue: 16,
    windows: SERVER_RECEIVE_WINDOWS,
  };
}

describe('native QUIC addon boundary', needsNativeAddon, () => {
  test('a panic inside the addon becomes a JavaScript error, and the process goes on', () => {
    const addon = loadNativeAddon();
    assert.throws(() => addon.panicForTest('deliberate'), /NativeQuicPanic: deliberate/);
    assert.throws(() => addon.panicForTest('again'), /NativeQuicPanic: again/);
    assert.match(addon.version(), /^\d+\.\d+\.\d+$/);
  });

  test('a bad certificate, host or port is an error naming it', async () => {
    const { NativeEndpoint } = loadNativeAddon();
    const good = await options();
    assert.throws(() => new NativeEndpoint({ ...good, certificatePem: 'not a PEM' }), /certificate PEM/);
    assert.throws(() => new NativeEndpoint({ ...good, privateKeyPem: 'nope' }), /private key PEM/);
    assert.throws(() => new NativeEndpoint({ ...good, host: 'example.org' }), /not an IP address/);
    assert.throws(() => new NativeEndpoint({ ...good, port: 70000 }), /out of range/);
    assert.throws(() => new NativeEndpoint({ ...good, alpn: 'h3' as unknown as string[] }));
    assert.throws(() => new NativeEndpoint(undefined as unknown as NativeEndpointOptions));
  });

  test('calls with unknown connections, bad stream ids or wrong types are errors, not aborts', async () => {
    const { NativeEndpoint } = loadNativeAddon();
    const endpoint = new NativeEndpoint(await options());
    try {
      assert.ok(endpoint.port > 0);
      const bytes = new Uint8Array(4);
      assert.throws(() => endpoint.streamSend(99, 0, bytes, false), /no connection 99/);
      assert.throws(() => endpoint.streamSend(99, -1, bytes, false), /stream id -1/);
      assert.throws(() => endpoint.streamSend(99, 2 ** 62, bytes, false), /stream id/);
      assert.throws(() => endpoint.streamSend(99, 0.5, bytes, false), /stream id 0.5/);
      assert.throws(() => endpoint.streamShutdown(99, 0, 7, 0), /direction 7/);
      assert.throws(() => endpoint.close(99, true, Number.NaN, bytes), /error code NaN/);
      assert.throws(() => endpoint.dgramSend(99, 'text' as unknown as Uint8Array));
      assert.throws(() => endpoint.sendTo(bytes, 'nowhere', 1), /not an IP address/);
      assert.throws(
        () => endpoint.accept(new Uint8Array(3), null, null, null, '127.0.0.1', 1, bytes),
        /scid must be 16 bytes/,
      );
      assert.throws(
        () => endpoint.accept(new Uint8Array(16), null, null, new Uint8Array(5), '127.0.0.1', 1, bytes),
        /resetToken must be 16 bytes/,
      );
      assert.throws(
        () => endpoint.accept(new Uint8Array(16), new Uint8Array(21), null, null, '127.0.0.1', 1, bytes),
        /at most 20 bytes/,
      );
      // After all of that the endpoint still works.
      assert.deepEqual(endpoint.poll(), []);
      assert.equal(endpoint.stats().connections, 0);
    } finally {
      endpoint.shutdown(0, new Uint8Array(0), true);
    }
    assert.throws(() => endpoint.poll(), /closed/);
  });
});

describe('the stateless packets of the server (stateless.rs, quicPackets.ts)', needsNativeAddon, () => {
  test('a Retry and a Version Negotiation parse back as what they answer; garbage and bad ids do not crash', () => {
    const addon = loadNativeAddon();
    const scid = Uint8Array.from({ length: 8 }, (_, i) => i + 1);
    const dcid = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
    const newScid = Uint8Array.from({ length: 16 }, (_, i) => 0x50 + i);
    const retry = addon.retryPacket(scid, dcid, newScid, Uint8Array.of(7, 7, 7), 1);
    const header = addon.parseQuicHeader(retry);
    assert.equal(header?.ty, 1, 'Retry');
    assert.deepEqual(header?.dcid, scid, 'to the client');
    assert.deepEqual(header?.scid, newScid, 'from the connection id we chose');
    const negotiation = addon.negotiateVersion(scid, dcid);
    assert.equal(addon.parseQuicHeader(negotiation)?.ty, 4, 'Version Negotiation');
    assert.equal(addon.quicVersionIsSupported(1), true);
    assert.equal(addon.quicVersionIsSupported(0x1a2a3a4a), false);
    assert.equal(addon.parseQuicHeader(Uint8Array.of(0xc0, 0, 0)), null);
    assert.equal(addon.parseQuicHeader(new Uint8Array(0)), null);
    assert.throws(() => addon.negotiateVersion(new Uint8Array(21), dcid), /scid longer than 20 bytes/);
    assert.throws(() => addon.retryPacket(scid, dcid, newScid, new Uint8Array(1000), 1), /token too long/);
  });
});
