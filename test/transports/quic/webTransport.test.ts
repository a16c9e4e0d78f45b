import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { connectWebTransport } from '../../../client/quic/webTransportClient.ts';
import { H3Connection } from '../../../server/transports/quic/h3Connection.ts';
import type { SessionCloseInfo, WebTransportSession } from '../../../server/transports/quic/webTransport.ts';
import { needsNativeAddon } from '../../helpers/nativeAddon.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import type { QuicEndpoint } from './helpers.ts';
import { serverEndpoint } from './helpers.ts';

const endpoints: QuicEndpoint[] = [];
after(async () => {
  for (const endpoint of endpoints) await endpoint.close();
});

/** An HTTP/3 server whose WebTransport sessions on /echo echo streams and datagrams. */
async function echoServer() {
  const sessions: WebTransportSession[] = [];
  const closes: SessionCloseInfo[] = [];
  const server = await serverEndpoint({
    onConnection: (quic) => {
      new H3Connection({
        quic,
        role: 'server',
        onConnect: (request) => ({ status: request.path === '/echo' ? 200 : 404 }),
        onSession: (session) => {
          sessions.push(session);
          session.handler = {
            onStream(stream) {
              const reply = stream.bidirectional ? stream : session.openUniStream();
              stream.setHandler({
                onData: (bytes, fin) => reply.write(bytes, fin),
                onAbort() {},
              });
            },
            onDatagram(payload) {
              session.sendDatagram(payload);
            },
            onClose(info) {
              closes.push(info);
            },
          };
        },
      });
    },
  });
  endpoints.push(server);
  return { server, sessions, closes };
}

test('a WebTransport session echoes a bidirectional stream and datagrams', needsNativeAddon, async () => {
  const { server, closes } = await echoServer();
  const client = await connectWebTransport({
    host: '127.0.0.1',
    port: server.port,
    path: '/echo',
    insecure: true,
  });
  const stream = client.session.openBidiStream();
  const chunks: number[] = [];
  let ended = false;
  stream.setHandler({
    onData(bytes, fin) {
      chunks.push(...bytes);
      ended ||= fin;
    },
    onAbort() {},
  });
  stream.write(new TextEncoder().encode('ping over webtransport'), true);
  const datagrams: Uint8Array[] = [];
  client.session.handler = { onStream() {}, onDatagram: (d) => datagrams.push(d), onClose() {} };
  for (let i = 0; i < 5; i++) client.session.sendDatagram(Uint8Array.of(9, i));
  await waitFor(() => ended && datagrams.length === 5, 'echoes');
  assert.equal(new TextDecoder().decode(Uint8Array.from(chunks)), 'ping over webtransport');
  assert.deepEqual(datagrams[4], Uint8Array.of(9, 4));
  await client.close(7, 'done');
  await waitFor(() => closes.length === 1, 'the session close');
  assert.deepEqual(closes[0], { code: 7, reason: 'done', by: 'peer' });
});

test(
  'a unidirectional stream gets its answer on a server-opened unidirectional stream',
  needsNativeAddon,
  async () => {
    const { server } = await echoServer();
    const client = await connectWebTransport({
      host: '127.0.0.1',
      port: server.port,
      path: '/echo',
      insecure: true,
    });
    const received: number[] = [];
    let ended = false;
    client.session.handler = {
      onStream(stream) {
        stream.setHandler({
          onData(bytes, fin) {
            received.push(...bytes);
            ended ||= fin;
          },
          onAbort() {},
        });
      },
      onDatagram() {},
      onClose() {},
    };
    client.session.openUniStream().write(Uint8Array.of(1, 2, 3), true);
    await waitFor(() => ended, 'the uni echo');
    assert.deepEqual(received, [1, 2, 3]);
    await client.close();
  },
);

test('a CONNECT to an unknown path is refused with 404', needsNativeAddon, async () => {
  const { server } = await echoServer();
  await assert.rejects(
    connectWebTransport({ host: '127.0.0.1', port: server.port, path: '/nope', insecure: true }),
    /status 404/,
  );
});
