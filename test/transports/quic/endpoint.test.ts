import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { QuicCloseInfo, QuicConnection } from '../../../server/transports/quic/quicConnection.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import type { QuicEndpoint } from './helpers.ts';
import { clientEndpoint, serverEndpoint } from './helpers.ts';

const endpoints: QuicEndpoint[] = [];
after(async () => {
  for (const endpoint of endpoints) await endpoint.close();
});

/** A server that echoes every stream and datagram. */
async function echoServer(params: Parameters<typeof serverEndpoint>[0] = {}) {
  const server = await serverEndpoint({
    ...params,
    onConnection: (connection) => {
      connection.handler = {
        onEstablished() {},
        onStreamData(streamId, bytes, fin) {
          connection.streamSend(streamId, bytes, fin);
        },
        onStreamAborted() {},
        onDatagram(bytes) {
          connection.sendDatagram(bytes);
        },
        onClosed() {},
      };
    },
  });
  endpoints.push(server);
  return server;
}

type Received = {
  streams: Map<number, number[]>;
  fins: Set<number>;
  datagrams: Uint8Array[];
  closed?: QuicCloseInfo;
};

async function connectClient(server: QuicEndpoint, params: Parameters<typeof clientEndpoint>[0] = {}) {
  const client = await clientEndpoint(params);
  endpoints.push(client);
  const connection = client.connect('127.0.0.1', server.port, 'localhost');
  const received: Received = { streams: new Map(), fins: new Set(), datagrams: [] };
  let established = false;
  connection.handler = {
    onEstablished() {
      established = true;
    },
    onStreamData(streamId, bytes, fin) {
      const list = received.streams.get(streamId) ?? [];
      list.push(...bytes);
      received.streams.set(streamId, list);
      if (fin) received.fins.add(streamId);
    },
    onStreamAborted() {},
    onDatagram(bytes) {
      received.datagrams.push(bytes);
    },
    onClosed(info) {
      received.closed = info;
    },
  };
  await waitFor(() => established || received.closed !== undefined, 'the handshake');
  assert.ok(established, `handshake failed: ${JSON.stringify(received.closed)}`);
  return { client, connection, received };
}

test('a client connects through a Retry and gets its stream echoed', async () => {
  const server = await echoServer();
  const { connection, received } = await connectClient(server);
  // One Retry per tokenless Initial datagram: a ClientHello in two datagrams gets two.
  assert.ok(server.stats.retriesSent >= 1);
  const stream = connection.openStream(true);
  connection.streamSend(stream, new TextEncoder().encode('hello quic'), true);
  await waitFor(() => received.fins.has(stream), 'the echo');
  assert.equal(new TextDecoder().decode(Uint8Array.from(received.streams.get(stream)!)), 'hello quic');
});

test('datagrams are echoed, several per turn', async () => {
  const server = await echoServer();
  const { connection, received } = await connectClient(server);
  await waitFor(() => connection.maxDatagramSize > 0, 'datagram support');
  for (let i = 0; i < 10; i++) assert.ok(connection.sendDatagram(Uint8Array.of(i, 1, 2, 3)));
  await waitFor(() => received.datagrams.length === 10, '10 echoed datagrams');
  assert.deepEqual(
    received.datagrams.map((d) => d[0]),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
});

test('a large stream write waits in the send queue and arrives whole', async () => {
  const server = await echoServer();
  const { connection, received } = await connectClient(server);
  const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
  const stream = connection.openStream(true);
  connection.streamSend(stream, big, true);
  await waitFor(() => received.fins.has(stream), 'the big echo');
  const echoed = received.streams.get(stream)!;
  assert.equal(echoed.length, big.length);
  assert.equal(echoed[big.length - 1], big[big.length - 1]);
});

test('without Retry the connection is accepted on the first Initial', async () => {
  const server = await echoServer({ retry: false });
  await connectClient(server);
  assert.equal(server.stats.retriesSent, 0);
  assert.equal(server.stats.connectionsAccepted, 1);
});

test('a connection closed by the client is reported closed on the server with its code', async () => {
  let serverSide: QuicConnection | undefined;
  let closedInfo: QuicCloseInfo | undefined;
  const server = await serverEndpoint({
    onConnection: (connection) => {
      serverSide = connection;
      connection.handler = {
        onEstablished() {},
        onStreamData() {},
        onStreamAborted() {},
        onDatagram() {},
        onClosed(info) {
          closedInfo = info;
        },
      };
    },
  });
  endpoints.push(server);
  const { connection } = await connectClient(server);
  connection.close(true, 0x100, 'bye');
  await waitFor(() => closedInfo !== undefined, 'the close on the server');
  assert.ok(serverSide);
  assert.deepEqual(closedInfo, { by: 'peer', isApp: true, code: 0x100, reason: 'bye' });
});
