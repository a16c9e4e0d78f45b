/** The pure codecs of the QUIC transport, checked against the RFCs' own examples. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CapsuleReader,
  CapsuleType,
  encodeCapsule,
  encodeCloseSession,
  parseCloseSession,
} from '../../../server/transports/quic/capsule.ts';
import { H3ConnectionError, H3Error } from '../../../server/transports/quic/errors.ts';
import {
  encodeFrame,
  encodeSettings,
  FrameReader,
  FrameType,
  parseSettings,
  Setting,
} from '../../../server/transports/quic/h3Frame.ts';
import { HuffmanError, huffmanDecode, huffmanEncode } from '../../../server/transports/quic/huffman.ts';
import {
  checkDecoderStream,
  checkEncoderStream,
  decodeFieldSection,
  encodeFieldSection,
} from '../../../server/transports/quic/qpack.ts';
import { encodeVarint, readVarint } from '../../../server/transports/quic/varint.ts';

const hex = (text: string) => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const ascii = (text: string) => new TextEncoder().encode(text);

function assertH3Error(fn: () => unknown, code: number) {
  assert.throws(fn, (error: unknown) => error instanceof H3ConnectionError && error.code === code);
}

describe('varints (RFC 9000 section 16, Appendix A.1 examples)', () => {
  test('the RFC examples decode', () => {
    assert.deepEqual(readVarint(hex('9d7f3e7d'), 0), { value: 494878333, next: 4 });
    assert.deepEqual(readVarint(hex('7bbd'), 0), { value: 15293, next: 2 });
    assert.deepEqual(readVarint(hex('25'), 0), { value: 37, next: 1 });
    assert.deepEqual(readVarint(hex('4025'), 0), { value: 37, next: 2 });
  });
  test('an 8-byte value above 2^53 - 1 (a GREASE type) reads as the nearest double', () => {
    assert.deepEqual(readVarint(hex('c2197c5eff14e88c'), 0), { value: Number(151288809941952652n), next: 8 });
  });
  test('GREASE frame and capsule types above 2^53 are skipped, not errors', () => {
    const grease = hex('ff ff ff ff ff ff ff fe');
    const frames = new FrameReader(64);
    frames.push(new Uint8Array([...grease, 0x01, 0x00, ...encodeFrame(FrameType.DATA, ascii('x'))]));
    assert.equal(frames.next()!.payload.length, 1);
    assert.deepEqual(frames.next(), { type: FrameType.DATA, payload: ascii('x') });
    const capsules = new CapsuleReader(64);
    capsules.push(new Uint8Array([...grease, 0x00]));
    assert.equal(capsules.next()!.value.length, 0);
  });
  test('a truncated varint reads as "need more bytes"', () => {
    assert.equal(readVarint(hex('9d7f3e'), 0), undefined);
    assert.equal(readVarint(new Uint8Array(0), 0), undefined);
  });
  test('encoding uses the shortest form and round-trips', () => {
    for (const value of [0, 37, 63, 64, 15293, 16383, 16384, 494878333, 2 ** 30, 2 ** 53 - 1]) {
      const bytes = encodeVarint(value);
      assert.equal(readVarint(bytes, 0)?.value, value);
    }
    assert.deepEqual(encodeVarint(15293), hex('7bbd'));
    assert.deepEqual(encodeVarint(494878333), hex('9d7f3e7d'));
  });
});

describe('Huffman (RFC 7541 Appendix B; examples of C.4)', () => {
  const examples: [string, string][] = [
    ['www.example.com', 'f1e3 c2e5 f23a 6ba0 ab90 f4ff'],
    ['no-cache', 'a8eb 1064 9cbf'],
    ['custom-key', '25a8 49e9 5ba9 7d7f'],
    ['custom-value', '25a8 49e9 5bb8 e8b4 bf'],
  ];
  for (const [text, coded] of examples) {
    test(`"${text}" encodes and decodes as in C.4`, () => {
      assert.deepEqual(huffmanEncode(ascii(text)), hex(coded));
      assert.equal(new TextDecoder().decode(huffmanDecode(hex(coded))), text);
    });
  }
  test('every byte value round-trips', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    assert.deepEqual(huffmanDecode(huffmanEncode(all)), all);
  });
  test('padding longer than 7 bits is an error (section 5.2)', () => {
    // "0" is 00000 (5 bits); a full byte of ones after it is 11 bits of padding.
    assert.throws(() => huffmanDecode(hex('07 ff')), HuffmanError);
  });
  test('padding that is not all ones is an error', () => {
    // "0" (00000) followed by 3 padding bits 000 would decode as more symbols; 010 is not EOS.
    assert.throws(() => huffmanDecode(hex('02')), HuffmanError);
  });
  test('the EOS symbol inside a string is an error', () => {
    assert.throws(() => huffmanDecode(hex('ff ff ff ff')), HuffmanError);
  });
});

describe('QPACK field sections (RFC 9204)', () => {
  test('Appendix B.1: a literal with a static name reference', () => {
    assert.deepEqual(decodeFieldSection(hex('0000 510b 2f69 6e64 6578 2e68 746d 6c')), [
      [':path', '/index.html'],
    ]);
  });
  test('indexed static lines, Huffman-coded literals and literal names decode', () => {
    const fields: [string, string][] = [
      [':method', 'CONNECT'],
      [':protocol', 'webtransport'],
      [':scheme', 'https'],
      [':authority', 'localhost:4433'],
      [':path', '/odin'],
      ['origin', 'https://example.test'],
      ['sec-webtransport-http3-draft02', '1'],
    ];
    assert.deepEqual(decodeFieldSection(encodeFieldSection(fields)), fields);
  });
  test('a dynamic table reference fails with QPACK_DECOMPRESSION_FAILED', () => {
    assertH3Error(() => decodeFieldSection(hex('0000 80')), H3Error.QPACK_DECOMPRESSION_FAILED);
    assertH3Error(() => decodeFieldSection(hex('0200 d1')), H3Error.QPACK_DECOMPRESSION_FAILED);
    assertH3Error(() => decodeFieldSection(hex('0000 10')), H3Error.QPACK_DECOMPRESSION_FAILED);
  });
  test('a static index out of range, a truncated string and bad Huffman fail', () => {
    assertH3Error(() => decodeFieldSection(hex('0000 ff 40')), H3Error.QPACK_DECOMPRESSION_FAILED);
    assertH3Error(() => decodeFieldSection(hex('0000 510b 2f69')), H3Error.QPACK_DECOMPRESSION_FAILED);
    assertH3Error(() => decodeFieldSection(hex('0000 5181 02')), H3Error.QPACK_DECOMPRESSION_FAILED);
  });
  test('the encoder stream may only set the capacity to 0; the decoder stream only cancels', () => {
    assert.equal(checkEncoderStream(hex('20')), 1);
    assertH3Error(() => checkEncoderStream(hex('3f e1 1f')), H3Error.QPACK_ENCODER_STREAM_ERROR);
    assertH3Error(() => checkEncoderStream(hex('c0 00')), H3Error.QPACK_ENCODER_STREAM_ERROR);
    assert.equal(checkDecoderStream(hex('44')), 1);
    assertH3Error(() => checkDecoderStream(hex('84')), H3Error.QPACK_DECODER_STREAM_ERROR);
  });
});

describe('HTTP/3 frames and settings (RFC 9114 section 7)', () => {
  test('frames split across reads and several in one read are parsed', () => {
    const reader = new FrameReader(1024);
    const bytes = new Uint8Array([
      ...encodeFrame(FrameType.DATA, ascii('abc')),
      ...encodeFrame(0x21, ascii('x')),
    ]);
    reader.push(bytes.subarray(0, 3));
    assert.equal(reader.next(), undefined);
    reader.push(bytes.subarray(3));
    assert.deepEqual(reader.next(), { type: FrameType.DATA, payload: ascii('abc') });
    assert.deepEqual(reader.next(), { type: 0x21, payload: ascii('x') });
    assert.equal(reader.next(), undefined);
  });
  test('a frame over the limit is H3_EXCESSIVE_LOAD as soon as its length is known', () => {
    const reader = new FrameReader(16);
    reader.push(hex('01 4100'));
    assertH3Error(() => reader.next(), H3Error.EXCESSIVE_LOAD);
  });
  test('settings round-trip; duplicates and HTTP/2 settings are H3_SETTINGS_ERROR', () => {
    const settings = new Map([
      [Setting.QPACK_MAX_TABLE_CAPACITY, 0],
      [Setting.ENABLE_WEBTRANSPORT, 1],
    ]);
    const reader = new FrameReader(1024);
    reader.push(encodeSettings(settings));
    assert.deepEqual(parseSettings(reader.next()!.payload), settings);
    assertH3Error(() => parseSettings(hex('0100 0100')), H3Error.SETTINGS_ERROR);
    assertH3Error(() => parseSettings(hex('02 4064')), H3Error.SETTINGS_ERROR);
    assertH3Error(() => parseSettings(hex('01')), H3Error.FRAME_ERROR);
  });
});

describe('capsules (RFC 9297 section 3.2)', () => {
  test('CLOSE_WEBTRANSPORT_SESSION round-trips through a reader fed byte by byte', () => {
    const bytes = new Uint8Array([
      ...encodeCloseSession(42, 'bye'),
      ...encodeCapsule(0x1234, ascii('ignored')),
    ]);
    const reader = new CapsuleReader(2048);
    const capsules = [];
    for (const byte of bytes) {
      reader.push(Uint8Array.of(byte));
      for (let c = reader.next(); c !== undefined; c = reader.next()) capsules.push(c);
    }
    assert.equal(capsules.length, 2);
    assert.equal(capsules[0]!.type, CapsuleType.CLOSE_WEBTRANSPORT_SESSION);
    assert.deepEqual(parseCloseSession(capsules[0]!.value), { code: 42, reason: 'bye' });
    assert.equal(capsules[1]!.type, 0x1234);
  });
  test('a close capsule shorter than its code or an oversized capsule are errors', () => {
    assertH3Error(() => parseCloseSession(hex('0000')), H3Error.MESSAGE_ERROR);
    const reader = new CapsuleReader(8);
    reader.push(hex('6843 40ff'));
    assertH3Error(() => reader.next(), H3Error.EXCESSIVE_LOAD);
  });
});
