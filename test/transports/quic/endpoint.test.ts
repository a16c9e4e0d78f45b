import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, test } from 'node:test';
import type { QuicCloseInfo, QuicConnection } from '../../../server/transports/quic/quicConnection.ts';
import { PacketType, type QuicheHeader } from '../../../server/transports/quic/quiche.ts';
import { parseHeader } from '../../../server/transports/quic/quicPackets.ts';
import { needsNativeAddon } from '../../helpers/nativeAddon.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import type { QuicEndpoint } from './helpers.ts';
import { clientEndpoint, serverEndpoint } from './helpers.ts';

const endpoints: QuicEndpoint[] = [];
const sockets: Socket[] = [];
after(async () => {
  for (const endpoint of endpoints) await endpoint.close();
  for (const socket of sockets) socket.close();
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

async function connectClient(server: { port: number }, params: Parameters<typeof clientEndpoint>[0] = {}) {
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

/**
 * A UDP relay between client and server that parses the long header of every datagram's first
 * packet: what a Retry exchange looks like on the wire.
 */
async function recordingRelay(serverPort: number) {
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => back.bind(0, '127.0.0.1', resolve));
  const toServer: { header: QuicheHeader; size: number }[] = [];
  const toClient: { header: QuicheHeader; size: number }[] = [];
  let client: { address: string; port: number } | undefined;
  front.on('message', (message, remote) => {
    client = remote;
    const header = parseHeader(message);
    if (header !== undefined) toServer.push({ header, size: message.length });
    back.send(message, serverPort, '127.0.0.1');
  });
  back.on('message', (message) => {
    const header = parseHeader(message);
    if (header !== undefined) toClient.push({ header, size: message.length });
    if (client !== undefined) front.send(message, client.port, client.address);
  });
  sockets.push(front, back);
  return { port: front.address().port, toServer, toClient };
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

test('a client follows only its first Retry and gets its stream echoed', needsNativeAddon, async () => {
  const server = await echoServer();
  const relay = await recordingRelay(server.port);
  const { connection, received } = await connectClient({ port: relay.port });
  const initials = relay.toServer.filter(({ header }) => header.ty === PacketType.Initial);
  const tokenless = initials.filter(({ header }) => (header.token?.length ?? 0) === 0);
  const retries = relay.toClient.filter(({ header }) => header.ty === PacketType.Retry);
  // The server is stateless until a token comes back, so it answers every tokenless Initial
  // datagram with a Retry: a ClientHello too big for one datagram (the native client's takes
  // two 1200-byte Initials) draws one Retry per datagram, each with its own id and token.
  assert.ok(tokenless.length >= 1);
  assert.ok(
    tokenless.every(({ size }) => size >= 1200),
    'client Initials are padded to 1200 bytes',
  );
  assert.equal(retries.length, tokenless.length, 'one Retry per tokenless Initial datagram');
  assert.equal(server.stats.retriesSent, retries.length);
  const [first, ...later] = retries;
  assert.ok(first !== undefined && (first.header.token?.length ?? 0) > 0, 'a Retry carries a token');
  // RFC 9000 section 17.2.5.2: the client accepts only the first Retry and discards later ones,
  // so every Initial after it goes to the first Retry's id with the first Retry's token; none
  // uses a later Retry's id, and the server sees no bad token.
  const retried = initials.slice(tokenless.length);
  assert.ok(retried.length >= 1, 'the client answered the Retry');
  for (const { header } of retried) {
    assert.equal(hex(header.dcid), hex(first.header.scid), "the first Retry's connection id");
    assert.equal(hex(header.token ?? new Uint8Array()), hex(first.header.token ?? new Uint8Array()));
  }
  for (const ignored of later)
    assert.ok(
      !initials.some(({ header }) => hex(header.dcid) === hex(ignored.header.scid)),
      'a later Retry is ignored',
    );
  assert.equal(server.stats.invalidTokens, 0);
  assert.equal(server.stats.connectionsAccepted, 1);

  const stream = connection.openStream(true);
  connection.streamSend(stream, new TextEncoder().encode('hello quic'), true);
  await waitFor(() => received.fins.has(stream), 'the echo');
  assert.equal(new TextDecoder().decode(Uint8Array.from(received.streams.get(stream)!)), 'hello quic');
});

test('datagrams are echoed, several per turn', needsNativeAddon, async () => {
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

test('a large stream write waits in the send queue and arrives whole', needsNativeAddon, async () => {
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

test('without Retry the connection is accepted on the first Initial', needsNativeAddon, async () => {
  const server = await echoServer({ retry: false });
  await connectClient(server);
  assert.equal(server.stats.retriesSent, 0);
  assert.equal(server.stats.connectionsAccepted, 1);
});

test(
  'a connection closed by the client is reported closed on the server with its code',
  needsNativeAddon,
  async () => {
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
  },
);
