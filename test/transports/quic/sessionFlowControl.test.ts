/** The bookkeeping of session flow control (sessionFlowControl.ts), capsule by capsule. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CapsuleType } from '../../../server/transports/quic/capsule.ts';
import type { QuicConnection } from '../../../server/transports/quic/quicConnection.ts';
import {
  FlowControlViolation,
  SessionFlowControl,
} from '../../../server/transports/quic/sessionFlowControl.ts';
import { encodeVarint } from '../../../server/transports/quic/varint.ts';
import { WebTransportSession } from '../../../server/transports/quic/webTransport.ts';

function flow(
  local = { maxData: 100, maxStreamsBidi: 4, maxStreamsUni: 2 },
  peer = { maxData: 50, maxStreamsBidi: 1, maxStreamsUni: 0 },
) {
  const sent: [number, number][] = [];
  return { fc: new SessionFlowControl(local, peer, (type, value) => sent.push([type, value])), sent };
}

test('send side: WT_STREAMS_BLOCKED and WT_DATA_BLOCKED go out once per limit; credit comes with WT_MAX_*', () => {
  const { fc, sent } = flow();
  assert.equal(fc.canOpenStream(true), true);
  fc.onLocalStreamOpened(true);
  assert.equal(fc.canOpenStream(true), false);
  assert.equal(fc.canOpenStream(true), false);
  assert.equal(fc.canOpenStream(false), false);
  assert.deepEqual(sent, [
    [CapsuleType.WT_STREAMS_BLOCKED_BIDI, 1],
    [CapsuleType.WT_STREAMS_BLOCKED_UNI, 0],
  ]);
  assert.equal(fc.onCapsule(CapsuleType.WT_MAX_STREAMS_BIDI, encodeVarint(3)), 'credit');
  assert.equal(fc.canOpenStream(true), true);
  fc.onDataSent(50);
  assert.equal(fc.sendCredit, 0);
  fc.onDataBlocked();
  fc.onDataBlocked();
  assert.deepEqual(sent.slice(2), [[CapsuleType.WT_DATA_BLOCKED, 50]]);
  fc.onCapsule(CapsuleType.WT_MAX_DATA, encodeVarint(80));
  assert.equal(fc.sendCredit, 30);
});

test('a limit that goes down, a stream count over 2^60 or a malformed value is a violation', () => {
  const { fc } = flow();
  fc.onCapsule(CapsuleType.WT_MAX_DATA, encodeVarint(60));
  assert.throws(() => fc.onCapsule(CapsuleType.WT_MAX_DATA, encodeVarint(59)), FlowControlViolation);
  assert.throws(() => fc.onCapsule(CapsuleType.WT_MAX_STREAMS_BIDI, encodeVarint(0)), /went down/);
  assert.throws(
    () => fc.onCapsule(CapsuleType.WT_MAX_STREAMS_UNI, Uint8Array.of(0xd0, 0, 0, 0, 0, 1, 0, 0)),
    /exceeds 2\^60/,
  );
  assert.throws(() => fc.onCapsule(CapsuleType.WT_MAX_DATA, Uint8Array.of(0x40)), /exactly one varint/);
  assert.throws(() => fc.onCapsule(CapsuleType.WT_DATA_BLOCKED, Uint8Array.of(1, 2)), /exactly one varint/);
  assert.equal(fc.onCapsule(0x2843, new Uint8Array(4)), undefined);
  // A limit of 2^62 - 1 is kept as 2^53 - 1: still encodable when we report being blocked at it.
  const huge = flow();
  huge.fc.onCapsule(CapsuleType.WT_MAX_DATA, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
  huge.fc.onDataSent(Number.MAX_SAFE_INTEGER);
  huge.fc.onDataBlocked();
  assert.deepEqual(huge.sent, [[CapsuleType.WT_DATA_BLOCKED, Number.MAX_SAFE_INTEGER]]);
});

test('receive side: limits hold, and are raised by half a window as streams end and data is consumed', () => {
  const { fc, sent } = flow();
  for (let i = 0; i < 4; i++) fc.onPeerStreamOpened(true);
  assert.throws(() => fc.onPeerStreamOpened(true), /opened bidi stream 5 of a session allowing 4/);
  fc.onPeerStreamClosed(true);
  assert.deepEqual(sent, []);
  fc.onPeerStreamClosed(true);
  assert.deepEqual(sent, [[CapsuleType.WT_MAX_STREAMS_BIDI, 6]]);
  fc.onPeerStreamOpened(true);
  fc.onDataReceived(49);
  assert.equal(sent.length, 1);
  fc.onDataReceived(1);
  assert.deepEqual(sent[1], [CapsuleType.WT_MAX_DATA, 150]);
  assert.throws(() => fc.onDataReceived(101), /sent 151 bytes on a session allowing 150/);
  // A peer that says it is blocked gets whatever the window allows at once.
  const other = flow();
  other.fc.onDataReceived(10);
  other.fc.onCapsule(CapsuleType.WT_DATA_BLOCKED, encodeVarint(100));
  assert.deepEqual(other.sent, [[CapsuleType.WT_MAX_DATA, 110]]);
});

test('a session holds bytes beyond the peer credit, counts them as unsent, and sends them in order on WT_MAX_DATA', () => {
  const written: [number, string, boolean][] = [];
  const quic = {
    pendingBytes: 0,
    openStream: () => 4,
    streamSend(id: number, bytes: Uint8Array, fin = false) {
      if (id === 4) written.push([id, new TextDecoder().decode(bytes), fin]);
      return true;
    },
    shutdownStream() {},
  } as unknown as QuicConnection;
  const session = new WebTransportSession(0, quic, '/main', [], {
    draft: 'current',
    flow: {
      local: { maxData: 100, maxStreamsBidi: 4, maxStreamsUni: 4 },
      peer: { maxData: 5, maxStreamsBidi: 1, maxStreamsUni: 0 },
    },
  });
  const stream = session.openBidiStream();
  written.length = 0; // the stream header
  stream.write(new TextEncoder().encode('hello world'));
  stream.write(new TextEncoder().encode('!'), true);
  assert.deepEqual(written, [[4, 'hello', false]]);
  assert.equal(session.unsentBytes, 7, 'what waits for credit counts toward the slow-reader limit');
  session.onCapsule(CapsuleType.WT_MAX_DATA, encodeVarint(9));
  assert.deepEqual(written.slice(1), [[4, ' wor', false]]);
  session.onCapsule(CapsuleType.WT_MAX_DATA, encodeVarint(100));
  assert.deepEqual(written.slice(2), [
    [4, 'ld', false],
    [4, '!', true],
  ]);
  assert.equal(session.unsentBytes, 0);
});
