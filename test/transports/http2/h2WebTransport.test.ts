/**
 * The WebTransport-over-HTTP/2 session (server/transports/quic/h2WebTransport.ts) between a
 * client and a server instance joined back to back in memory: flow control that waits and
 * resumes, limits a peer breaks, stream state, stop/reset. Pure logic: no sockets needed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WebTransportError } from '../../../server/transports/quic/errors.ts';
import { encodeStreamCapsule } from '../../../server/transports/quic/h2Capsules.ts';
import {
  H2_PROTOCOL_ERROR_CODE,
  type H2FlowLimits,
  H2WebTransportSession,
  type H2WebTransportStream,
} from '../../../server/transports/quic/h2WebTransport.ts';
import type { SessionCloseInfo } from '../../../server/transports/quic/webTransport.ts';

type End = {
  session: H2WebTransportSession;
  outbox: Uint8Array[];
  closes: SessionCloseInfo[];
  streams: H2WebTransportStream[];
};

function end(role: 'client' | 'server', local: H2FlowLimits, peer: H2FlowLimits): End {
  const outbox: Uint8Array[] = [];
  const closes: SessionCloseInfo[] = [];
  const streams: H2WebTransportStream[] = [];
  const session = new H2WebTransportSession({
    role,
    remoteAddress: 'memory:1',
    local,
    peer,
    maxCapsuleBytes: 64 * 1024,
    sink: { write: (bytes) => outbox.push(Uint8Array.from(bytes)), end: () => {}, buffered: 0 },
  });
  session.handler = {
    onStream: (stream) => streams.push(stream),
    onDatagram: () => {},
    onClose: (info) => closes.push(info),
  };
  return { session, outbox, closes, streams };
}

/** Delivers what each side wrote to the other until both are quiet. */
function pump(a: End, b: End): void {
  while (a.outbox.length > 0 || b.outbox.length > 0) {
    for (const bytes of a.outbox.splice(0)) b.session.receive(bytes);
    for (const bytes of b.outbox.splice(0)) a.session.receive(bytes);
  }
}

const limits = (maxStreamData: number, maxData = 1 << 20): H2FlowLimits => ({
  maxData,
  maxStreamsBidi: 4,
  maxStreamsUni: 4,
  maxStreamData,
});

function pair(serverStreamData = 1000, clientStreamData = 1000) {
  const server = end('server', limits(serverStreamData), limits(clientStreamData));
  const client = end('client', limits(clientStreamData), limits(0, 0));
  server.session.start();
  client.session.start();
  pump(client, server);
  return { client, server };
}

describe('WebTransport over HTTP/2 session', () => {
  test('stream bytes beyond the per-stream window wait for WT_MAX_STREAM_DATA and arrive whole, in order', () => {
    const { client, server } = pair(1000);
    const received: Uint8Array[] = [];
    let fin = false;
    const sent = Uint8Array.from({ length: 5000 }, (_, i) => i % 251);
    const stream = client.session.openBidiStream();
    assert.equal(stream.id, 0, "the client's first bidirectional stream is 0");
    stream.write(sent, true);
    assert.ok(client.session.unsentBytes > 0, 'held back: the server granted 1000 bytes per stream');
    server.streams.length === 0 || assert.fail('nothing delivered before the pump');
    pump(client, server);
    const [arrived] = server.streams;
    assert.ok(arrived);
    arrived.setHandler({
      onData: (bytes, end) => {
        received.push(Uint8Array.from(bytes));
        fin ||= end;
      },
      onAbort: () => assert.fail('no abort'),
    });
    pump(client, server);
    assert.deepEqual(Buffer.concat(received), Buffer.from(sent));
    assert.ok(fin, 'the FIN arrived after the last byte');
    assert.equal(client.session.unsentBytes, 0);
    assert.equal(server.closes.length, 0);
  });

  test('a peer sending beyond the stream limit it was granted breaks the session with WT_FLOW_CONTROL_ERROR', () => {
    const { client, server } = pair(100);
    // Written by hand: our own sender would wait.
    server.session.receive(encodeStreamCapsule(0, new Uint8Array(101), false));
    assert.equal(server.closes[0]?.code, WebTransportError.FLOW_CONTROL_ERROR);
    assert.match(server.closes[0]?.reason ?? '', /stream 0: 101 bytes on a stream allowing 100/);
    pump(client, server);
    assert.equal(client.closes[0]?.code, WebTransportError.FLOW_CONTROL_ERROR, 'the client hears why');
  });

  test('a client writing on a server stream id that was never opened is a protocol error', () => {
    const { server } = pair();
    server.session.receive(encodeStreamCapsule(1, new Uint8Array([1]), false));
    assert.equal(server.closes[0]?.code, H2_PROTOCOL_ERROR_CODE);
    assert.match(server.closes[0]?.reason ?? '', /stream 1, which is ours to open/);
    assert.equal(server.session.stats.protocolErrors, 1);
    assert.equal(server.session.stats.internalErrors, 0);
  });

  test('data after a FIN is a protocol error', () => {
    const { server } = pair();
    server.session.receive(encodeStreamCapsule(0, new Uint8Array([1]), true));
    assert.equal(server.closes.length, 0);
    server.session.receive(encodeStreamCapsule(0, new Uint8Array([2]), false));
    assert.match(server.closes[0]?.reason ?? '', /after its end|never opened/);
  });

  test('STOP_SENDING is answered with a reset of the same code; the writer is told', () => {
    const { client, server } = pair();
    const aborts: string[] = [];
    const stream = client.session.openBidiStream();
    stream.setHandler({
      onData: () => {},
      onAbort: (code, direction) => aborts.push(`${code} ${direction}`),
    });
    stream.write(new Uint8Array([1, 2, 3]));
    pump(client, server);
    const arrived = server.streams[0]!;
    const serverAborts: string[] = [];
    arrived.setHandler({
      onData: () => {},
      onAbort: (code, direction) => serverAborts.push(`${code} ${direction}`),
    });
    arrived.stopSending(7);
    pump(client, server);
    assert.deepEqual(aborts, ['7 write']);
    assert.equal(stream.write(new Uint8Array([4])), false, 'a reset stream takes no more bytes');
    assert.equal(server.closes.length + client.closes.length, 0, 'the session lives on');
  });

  test('datagrams travel as DATAGRAM capsules, byte for byte', () => {
    const { client, server } = pair();
    const got: Uint8Array[] = [];
    server.session.handler.onDatagram = (payload) => got.push(Uint8Array.from(payload));
    assert.ok(client.session.sendDatagram(new Uint8Array([9, 8, 7])));
    pump(client, server);
    assert.deepEqual(got, [new Uint8Array([9, 8, 7])]);
  });

  test('WT_CLOSE_SESSION carries code and reason to the other side', () => {
    const { client, server } = pair();
    server.session.close(3, 'guessing');
    pump(client, server);
    assert.deepEqual(client.closes, [{ code: 3, reason: 'guessing', by: 'peer' }]);
  });
});
