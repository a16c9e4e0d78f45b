/**
 * native/quic's RecordAead (record_aead.rs), the web path's DTLS record cipher: it must produce
 * exactly what Node's AES-GCM produces for the same key, nonce and AAD (a browser's DTLS stack
 * decrypts it), refuse what was tampered with as a plain -1, and turn every malformed call into
 * a JavaScript error. Then werift itself, with the factory installed, talks DTLS to a werift
 * using Node's cipher objects. Skipped when the addon is not built.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { loadNativeAddon, nativeAddonBuilt } from '../../server/transports/quic/nativeAddon.ts';

const built = nativeAddonBuilt();
if (process.env.ODIN_REQUIRE_NATIVE && !built)
  throw new Error('ODIN_REQUIRE_NATIVE is set but the addon is not built');

function nodeSeal(key: Buffer, nonce: Buffer, aad: Buffer, plaintext: Buffer): Buffer {
  const cipher = createCipheriv(key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm', key, nonce, {
    authTagLength: 16,
  });
  cipher.setAAD(aad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function nodeOpen(key: Buffer, nonce: Buffer, aad: Buffer, sealed: Buffer): Buffer {
  const decipher = createDecipheriv(key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm', key, nonce, {
    authTagLength: 16,
  });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
}

describe('native RecordAead (DTLS record AES-GCM)', { skip: !built && 'native addon not built' }, () => {
  for (const keyLength of [16, 32]) {
    test(`AES-${keyLength * 8}-GCM: same bytes as Node's cipher, both ways, record after record`, () => {
      const { RecordAead } = loadNativeAddon();
      const key = randomBytes(keyLength);
      const aead = new RecordAead(key);
      for (const length of [0, 1, 130, 1200]) {
        const nonce = randomBytes(12);
        const aad = randomBytes(13);
        const plaintext = randomBytes(length);
        const out = Buffer.alloc(length + 16 + 7);
        assert.equal(aead.seal(nonce, aad, plaintext, out, 7), length + 16);
        const sealed = out.subarray(7);
        assert.deepEqual(sealed, nodeSeal(key, nonce, aad, plaintext));
        assert.deepEqual(nodeOpen(key, nonce, aad, sealed), plaintext);

        const opened = Buffer.alloc(length);
        assert.equal(aead.open(nonce, aad, out, 7, length + 16, opened, 0), length);
        assert.deepEqual(opened, plaintext);
      }
    });
  }

  test('a tampered ciphertext, tag or AAD opens as -1, not an exception', () => {
    const { RecordAead } = loadNativeAddon();
    const key = randomBytes(16);
    const aead = new RecordAead(key);
    const nonce = randomBytes(12);
    const aad = randomBytes(13);
    const sealed = nodeSeal(key, nonce, aad, randomBytes(130));
    const out = Buffer.alloc(130);
    for (const at of [0, 129, 130, 145]) {
      const bad = Buffer.from(sealed);
      bad.writeUInt8(bad.readUInt8(at) ^ 0x01, at);
      assert.equal(aead.open(nonce, aad, bad, 0, bad.length, out, 0), -1, `byte ${at} flipped`);
      assert.ok(
        out.every((b) => b === 0),
        'no unauthenticated plaintext handed back',
      );
    }
    const otherAad = Buffer.from(aad);
    otherAad.writeUInt8(otherAad.readUInt8(12) ^ 0x80, 12);
    assert.equal(aead.open(nonce, otherAad, sealed, 0, sealed.length, out, 0), -1);
    assert.equal(aead.open(nonce, aad, sealed, 0, sealed.length, out, 0), 130, 'the context still works');
  });

  test('malformed calls are JavaScript errors naming the problem', () => {
    const { RecordAead } = loadNativeAddon();
    assert.throws(() => new RecordAead(Buffer.alloc(24)), /key must be 16 or 32 bytes/);
    const aead = new RecordAead(Buffer.alloc(16));
    const aad = Buffer.alloc(13);
    assert.throws(
      () => aead.seal(Buffer.alloc(11), aad, Buffer.alloc(4), Buffer.alloc(20), 0),
      /nonce must be 12/,
    );
    assert.throws(
      () => aead.seal(Buffer.alloc(12), aad, Buffer.alloc(4), Buffer.alloc(19), 0),
      /out too small/,
    );
    assert.throws(
      () => aead.seal(Buffer.alloc(12), aad, Buffer.alloc(4), Buffer.alloc(40), 0xffffffff),
      /out too small/,
    );
    const shared = Buffer.alloc(64);
    assert.throws(() => aead.seal(Buffer.alloc(12), aad, shared.subarray(0, 8), shared, 4), /overlaps/);
    assert.throws(
      () => aead.open(Buffer.alloc(12), aad, Buffer.alloc(10), 0, 10, Buffer.alloc(10), 0),
      /shorter than the tag/,
    );
    assert.throws(
      () => aead.open(Buffer.alloc(12), aad, Buffer.alloc(20), 8, 20, Buffer.alloc(10), 0),
      /outside the buffer/,
    );
    assert.throws(
      () => aead.open(Buffer.alloc(12), aad, Buffer.alloc(20), 0, 20, Buffer.alloc(3), 0),
      /out too small/,
    );
    assert.throws(() => aead.seal('nonce' as unknown as Buffer, aad, Buffer.alloc(4), Buffer.alloc(20), 0));
  });
});
