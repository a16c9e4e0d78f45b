/**
 * Bad input against a real grid's [quic] listener: every case gets the error or close that
 * docs/protocol.md specifies, and the server keeps serving a well-behaved client throughout.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { OdinQuicClient } from '../../../client/quic/odinQuicClient.ts';
import { H3Error } from '../../../server/transports/quic/errors.ts';
import { H3Connection } from '../../../server/transports/quic/h3Connection.ts';
import { encodeFrame, FrameReader, FrameType, StreamType } from '../../../server/transports/quic/h3Frame.ts';
import { decodeFieldSection, encodeFieldSection } from '../../../server/transports/quic/qpack.ts';
import type { QuicCloseInfo } from '../../../server/transports/quic/quicConnection.ts';
import { concatBytes, encodeVarint } from '../../../server/transports/quic/varint.ts';
import { needsNativeAddon } from '../../helpers/nativeAddon.ts';
import { eventually, startTestGrid, type TestGrid } from '../../helpers/testGrid.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import type { QuicEndpoint } from './helpers.ts';
import { clientEndpoint, freeUdpPort, udpRelay } from './helpers.ts';

describe('bad input on the [quic] listener', needsNativeAddon, () => {
  let grid: TestGrid;
  let port: number;
  let healthy: OdinQuicClient;
  const endpoints: QuicEndpoint[] = [];

  before(async () => {
    port = await freeUdpPort();
    grid = await startTestGrid({
      toml: `[quic]\nbinding = "127.0.0.1:${port}"\nconnect_timeout = 3000\nmigration = false\nidle_timeout = 10000\n`,
    });
    healthy = await OdinQuicClient.connect({ host: '127.0.0.1', port, insecure: true });
    await healthy.joinRoom(await grid.token('steady', 'healthy'), 'steady');
  });
  after(async () => {
    await healthy?.close().catch(() => {});
    for (const endpoint of endpoints) await endpoint.close();
    await grid.close();
  });

  /** After each case the well-behaved client still gets answers. */
  async function stillServing(): Promise<void> {
    assert.equal(await healthy.main.request('Ping', {}), null);
  }

  /** A raw HTTP/3 client connection (SETTINGS sent, no session). */
  async function rawH3(): Promise<{ h3: H3Connection; closed: () => QuicCloseInfo | undefined }> {
    const endpoint = await clientEndpoint();
    endpoints.push(endpoint);
    const quic = endpoint.connect('127.0.0.1', port, 'localhost');
    let info: QuicCloseInfo | undefined;
    const h3 = new H3Connection({ quic, role: 'client', onClosed: (i) => (info = i) });
    await h3.waitForSettings();
    return { h3, closed: () => info };
  }

  async function expectClose(raw: { closed: () => QuicCloseInfo | undefined }, code: number): Promise<void> {
    await waitFor(() => raw.closed() !== undefined, 'the connection close');
    const info = raw.closed()!;
    assert.equal(info.by, 'peer', JSON.stringify(info));
    assert.equal(info.code, code, `expected 0x${code.toString(16)}, got ${JSON.stringify(info)}`);
  }

  test('garbage UDP datagrams are dropped and counted', async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    for (const bytes of [
      Buffer.from('hello'),
      Buffer.alloc(1300, 0xff),
      Buffer.alloc(0),
      Buffer.from([0x40, 1, 2]),
    ]) {
      socket.send(bytes, port, '127.0.0.1');
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.close();
    await stillServing();
  });

  test('an unknown frame type on a request stream is ignored; HTTP/2 frame types close with H3_FRAME_UNEXPECTED', async () => {
    const raw = await rawH3();
    raw.h3.sendRawStream(true, encodeFrame(0x21 + 0x1f * 3, new Uint8Array(3)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(raw.closed(), undefined, 'an unknown frame is not an error');
    raw.h3.sendRawStream(true, encodeFrame(0x06, new Uint8Array(8)));
    await expectClose(raw, H3Error.FRAME_UNEXPECTED);
    await stillServing();
  });

  test('an unknown unidirectional stream type is refused without closing the connection', async () => {
    const raw = await rawH3();
    raw.h3.sendRawStream(false, encodeVarint(0x21 + 0x1f * 7));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(raw.closed(), undefined);
  });

  test('a second control stream closes with H3_STREAM_CREATION_ERROR', async () => {
    const raw = await rawH3();
    raw.h3.sendRawStream(
      false,
      concatBytes([encodeVarint(StreamType.CONTROL), encodeFrame(FrameType.SETTINGS, new Uint8Array(0))]),
    );
    await expectClose(raw, H3Error.STREAM_CREATION_ERROR);
  });

  test('a truncated frame at the end of a request stream gets H3_REQUEST_INCOMPLETE, an oversized one H3_EXCESSIVE_LOAD', async () => {
    const raw = await rawH3();
    raw.h3.sendRawStream(true, Uint8Array.of(FrameType.HEADERS, 0x10, 0x00), true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(raw.closed(), undefined);
    raw.h3.sendRawStream(true, concatBytes([encodeVarint(FrameType.HEADERS), encodeVarint(1_000_000)]));
    await expectClose(raw, H3Error.EXCESSIVE_LOAD);
    await stillServing();
  });

  test('invalid QPACK closes with QPACK_DECOMPRESSION_FAILED', async () => {
    const raw = await rawH3();
    raw.h3.sendRawStream(true, encodeFrame(FrameType.HEADERS, Uint8Array.of(0x00, 0x00, 0x80)));
    await expectClose(raw, H3Error.QPACK_DECOMPRESSION_FAILED);
  });

  /** Sends one request's HEADERS; resolves with the reset code of that stream, or the status answered. */
  async function sendRequest(fields: [string, string][]): Promise<{ reset?: number; status?: string }> {
    const raw = await rawH3();
    const inner = raw.h3.quic.handler;
    let outcome: { reset?: number; status?: string } | undefined;
    const answer = new FrameReader(16 * 1024);
    const streamId = raw.h3.sendRawStream(true, encodeFrame(FrameType.HEADERS, encodeFieldSection(fields)));
    raw.h3.quic.handler = {
      ...inner,
      onEstablished: () => inner.onEstablished(),
      onDatagram: (bytes) => inner.onDatagram(bytes),
      onClosed: (info) => inner.onClosed(info),
      onStreamAborted: (id, code, direction) => {
        if (id === streamId) outcome ??= { reset: code };
        inner.onStreamAborted(id, code, direction);
      },
      onStreamData: (id, bytes, fin) => {
        if (id === streamId && bytes.length > 0) {
          answer.push(bytes);
          const frame = answer.next();
          if (frame?.type === FrameType.HEADERS) {
            const status = decodeFieldSection(frame.payload).find(([field]) => field === ':status');
            outcome ??= { status: status?.[1] };
          }
        }
        inner.onStreamData(id, bytes, fin);
      },
    };
    await waitFor(() => outcome !== undefined, 'the answer or reset of the request');
    assert.equal(raw.closed(), undefined, 'a malformed request is a stream error, not a connection error');
    return outcome!;
  }

  // RFC 9114 section 4.1.2: a malformed request is a stream error H3_MESSAGE_ERROR, never a status.
  const malformed: [string, [string, string][]][] = [
    [
      'a CONNECT with :scheme and :path but no :protocol',
      [
        [':method', 'CONNECT'],
        [':scheme', 'https'],
        [':authority', 'localhost'],
        [':path', '/main'],
      ],
    ],
    [
      'a GET without :path',
      [
        [':method', 'GET'],
        [':scheme', 'https'],
        [':authority', 'localhost'],
      ],
    ],
    [
      'a GET without :scheme',
      [
        [':method', 'GET'],
        [':authority', 'localhost'],
        [':path', '/'],
      ],
    ],
    [
      'a GET with an empty :path',
      [
        [':method', 'GET'],
        [':scheme', 'https'],
        [':authority', 'localhost'],
        [':path', ''],
      ],
    ],
    [
      'an https GET without :authority or Host',
      [
        [':method', 'GET'],
        [':scheme', 'https'],
        [':path', '/'],
      ],
    ],
    ['a classic CONNECT without :authority', [[':method', 'CONNECT']]],
    [
      'an extended CONNECT without :path',
      [
        [':method', 'CONNECT'],
        [':protocol', 'webtransport'],
        [':scheme', 'https'],
        [':authority', 'localhost'],
      ],
    ],
    [
      'a request carrying :status',
      [
        [':method', 'GET'],
        [':status', '200'],
        [':scheme', 'https'],
        [':authority', 'localhost'],
        [':path', '/'],
      ],
    ],
    [
      'a connection-specific field (transfer-encoding)',
      [
        [':method', 'GET'],
        [':scheme', 'https'],
        [':authority', 'localhost'],
        [':path', '/'],
        ['transfer-encoding', 'chunked'],
      ],
    ],
  ];
  for (const [name, fields] of malformed) {
    test(`${name} is reset with H3_MESSAGE_ERROR`, async () => {
      const before = grid.sfu.clientCount;
      assert.deepEqual(await sendRequest(fields), { reset: H3Error.MESSAGE_ERROR });
      assert.equal(grid.sfu.clientCount, before);
      await stillServing();
    });
  }

  test('well-formed requests we do not serve get a status: classic CONNECT 501, GET 404', async () => {
    const tunnel = await sendRequest([
      [':method', 'CONNECT'],
      [':authority', 'localhost:1'],
    ]);
    assert.deepEqual(tunnel, { status: '501' });
    const get = await sendRequest([
      [':method', 'GET'],
      [':scheme', 'https'],
      [':authority', 'localhost'],
      [':path', '/'],
    ]);
    assert.deepEqual(get, { status: '404' });
  });

  test('datagrams for unknown sessions are dropped and counted; an empty one is H3_DATAGRAM_ERROR', async () => {
    const raw = await rawH3();
    raw.h3.quic.sendDatagram(Uint8Array.of(0x3f, 1, 2, 3));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(raw.closed(), undefined);
    raw.h3.quic.sendDatagram(new Uint8Array(0));
    await expectClose(raw, H3Error.DATAGRAM_ERROR);
  });

  test('a connection that opens no WebTransport session is closed after connect_timeout', async () => {
    const raw = await rawH3();
    await waitFor(() => raw.closed() !== undefined, 'connect_timeout');
    assert.equal(raw.closed()!.code, H3Error.REQUEST_INCOMPLETE);
    assert.match(raw.closed()!.reason, /connect_timeout/);
    await stillServing();
  });

  test('an oversized RPC message closes the session with code 1', async () => {
    const client = await OdinQuicClient.connect({ host: '127.0.0.1', port, insecure: true });
    client.main.stream.write(encodeVarint(64 * 1024 * 1024));
    await eventually(() => client.closeInfo !== undefined, 'the session close');
    assert.equal(client.closeInfo!.code, 1);
    assert.match(client.closeInfo!.reason, /protocol error/);
    await client.close().catch(() => {});
    await stillServing();
  });

  test('with migration = false, packets from a new client address are dropped', async () => {
    // A UDP relay between client and server; "rebinding" it changes the address the server sees.
    const relay = await udpRelay(port);
    const client = await OdinQuicClient.connect({
      host: '127.0.0.1',
      port: relay.port,
      insecure: true,
      requestTimeoutMs: 1_000,
    });
    assert.equal(await client.main.request('Ping', {}), null);
    await relay.rebind();
    // The request leaves from the new address: the server drops it (RFC 9000 section 9), so no answer.
    await assert.rejects(client.main.request('Ping', {}), /no answer|ended|closed/);
    await client.close().catch(() => {});
    relay.close();
    await stillServing();
  });
});
