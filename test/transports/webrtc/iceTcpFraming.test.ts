import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  encodeIceTcpFrame,
  IceTcpFrameReader,
  IceTcpFramingError,
} from '../../../server/transports/web/webrtc/iceTcpFraming.ts';

/** A STUN binding request header (RFC 8489 §5) with `body` bytes of attributes. */
function stunMessage(bodyLength: number): Buffer {
  const message = Buffer.alloc(20 + bodyLength, 0xab);
  message.writeUInt16BE(0x0001, 0);
  message.writeUInt16BE(bodyLength, 2);
  message.writeUInt32BE(0x2112a442, 4);
  return message;
}

function reader(maxFrameLength = 1500, requireStun = false) {
  const frames: Buffer[] = [];
  const r = new IceTcpFrameReader({ maxFrameLength, onFrame: (f) => frames.push(Buffer.from(f)) });
  r.requireStun = requireStun;
  return { r, frames };
}

test('frames arriving whole, several per read, come out in order', () => {
  const { r, frames } = reader();
  const a = Buffer.from([20, 1, 2, 3]);
  const b = Buffer.from([23, 9]);
  r.push(Buffer.concat([encodeIceTcpFrame(a), encodeIceTcpFrame(b)]));
  assert.deepEqual(frames, [a, b]);
  assert.equal(r.bufferedBytes, 0);
});

test('a stream cut at every byte gives the same frames, with and without the STUN check', () => {
  const cases = [
    { requireStun: false, datagrams: [stunMessage(8), Buffer.alloc(300, 23), Buffer.from([22, 254, 253])] },
    { requireStun: true, datagrams: [stunMessage(8), stunMessage(0), stunMessage(100)] },
  ];
  for (const { requireStun, datagrams } of cases) {
    const { r, frames } = reader(1500, requireStun);
    const stream = Buffer.concat(datagrams.map(encodeIceTcpFrame));
    for (let i = 0; i < stream.length; i++) r.push(stream.subarray(i, i + 1));
    assert.deepEqual(frames, datagrams);
    assert.equal(r.bufferedBytes, 0);
  }
});

test('a frame declaring more than the limit is refused on its two length bytes, before allocation', () => {
  const { r, frames } = reader(1000);
  const header = Buffer.from([0x0f, 0xa0]); // 4000
  assert.throws(
    () => r.push(header),
    (error: unknown) => error instanceof IceTcpFramingError && error.code === 'oversized_frame',
  );
  assert.equal(r.bufferedBytes, 0, 'nothing held for the refused frame');
  assert.equal(frames.length, 0);
  assert.throws(() => r.push(Buffer.from([1])), IceTcpFramingError, 'stays failed');
});

test('before authentication, bytes that are not a framed STUN message are garbage', () => {
  for (const garbage of [
    Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), // TLS ClientHello
    encodeIceTcpFrame(Buffer.alloc(40, 23)), // DTLS before any check
    Buffer.concat([Buffer.from([0, 28]), stunMessage(4).subarray(0, 10)]), // STUN length ≠ frame length
  ]) {
    const { r } = reader(65535, true);
    assert.throws(
      () => r.push(garbage),
      (error: unknown) => error instanceof IceTcpFramingError && error.code === 'garbage',
      garbage.toString('hex'),
    );
  }
});

test('a STUN-shaped frame over the limit is oversized, not garbage', () => {
  const { r } = reader(100, true);
  const big = encodeIceTcpFrame(stunMessage(200));
  assert.throws(
    () => r.push(big.subarray(0, 12)),
    (error: unknown) => error instanceof IceTcpFramingError && error.code === 'oversized_frame',
  );
});

test('zero-length frames are skipped; the limit is 1..65535', () => {
  const { r, frames } = reader();
  r.push(Buffer.from([0, 0, 0, 1, 20, 0, 0]));
  assert.deepEqual(frames, [Buffer.from([20])]);
  assert.throws(() => new IceTcpFrameReader({ maxFrameLength: 70000, onFrame: () => {} }), RangeError);
});
