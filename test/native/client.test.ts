/**
 * The client role of the native addon (native/quic/src/client.rs, nativeClientEndpoint.ts):
 * grid's Node client on it verifies the server's certificate unless told `insecure`, and the
 * load generator's shared endpoint counts and
 * times received voice in the addon. The QUIC suites (test/transports/quic) run the same
 * client against real grids. Skipped when the addon is not built.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  connectWebTransport,
  sharedClientEndpoint,
  type WebTransportClientOptions,
} from '../../client/quic/webTransportClient.ts';
import { encodeVoicePacket } from '../../server/protocol/voicePacket.ts';
import { H3Connection } from '../../server/transports/quic/h3Connection.ts';
import type { ReceiveWindows } from '../../server/transports/quic/quiche.ts';
import type { WebTransportStream } from '../../server/transports/quic/webTransport.ts';
import { needsNativeAddon } from '../helpers/nativeAddon.ts';
import { waitFor } from '../helpers/waitFor.ts';
import { type QuicEndpoint, serverEndpoint, testCertificate } from '../transports/quic/helpers.ts';

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

/**
 * An HTTP/3 server (default engine) whose WebTransport sessions echo datagrams; `onStream`
 * sees the streams clients open.
 */
async function echoServer(
  options: { receiveWindows?: ReceiveWindows; onStream?: (stream: WebTransportStream) => void } = {},
): Promise<QuicEndpoint> {
  const server = await serverEndpoint({
    ...(options.receiveWindows === undefined ? {} : { receiveWindows: options.receiveWindows }),
    onConnection: (quic) => {
      new H3Connection({
        quic,
        role: 'server',
        onConnect: () => ({ status: 200 }),
        onSession: (session) => {
          session.handler = {
            onStream: (stream) => options.onStream?.(stream),
            onDatagram: (payload) => session.sendDatagram(payload),
            onClose() {},
          };
        },
      });
    },
  });
  closers.push(() => server.close());
  return server;
}

async function connect(port: number, options: Partial<WebTransportClientOptions> = {}) {
  const client = await connectWebTransport({
    host: '127.0.0.1',
    port,
    path: '/echo',
    timeoutMs: 3_000,
    ...options,
  });
  closers.push(() => client.close());
  return client;
}

/** A datagram comes back from the echo server. */
async function echoes(client: Awaited<ReturnType<typeof connect>>): Promise<void> {
  let heard = 0;
  client.session.handler = { onStream() {}, onDatagram: () => heard++, onClose() {} };
  client.session.sendDatagram(Uint8Array.of(1, 2, 3));
  await waitFor(() => heard === 1, 'the echoed datagram');
}

describe('native QUIC client', needsNativeAddon, () => {
  test('connects with `insecure` to a self-signed server and echoes a datagram', async () => {
    const server = await echoServer();
    await echoes(await connect(server.port, { insecure: true }));
  });

  test('verifies the certificate by default: unknown issuer and wrong name are refused', async () => {
    const server = await echoServer();
    const { certificatePem } = await testCertificate();
    // The system's roots do not know the self-signed test certificate: TLS alert unknown_ca
    // (48), as QUIC crypto error 0x100 + 48.
    await assert.rejects(connect(server.port), /failed: connection closed \(local: code 0x130\)/);
    // Trusted, but issued for localhost and 127.0.0.1 only.
    await assert.rejects(
      connect(server.port, { caPem: certificatePem, serverName: 'elsewhere.example' }),
      /failed: connection closed \(local: code 0x1/,
    );
    const trusted = await connect(server.port, { caPem: certificatePem, serverName: 'localhost' });
    await echoes(trusted);
  });

  test('a shared endpoint carries many sessions; a voice sink times datagrams in the addon', async () => {
    const server = await echoServer();
    const endpoint = sharedClientEndpoint({ insecure: true });
    closers.push(() => endpoint.close());
    const a = await connect(server.port, { endpoint });
    const b = await connect(server.port, { endpoint });
    assert.equal(endpoint.connectionCount, 2);
    await echoes(b);
    endpoint.setVoiceSink(a.h3.quic, true);
    let delivered = 0;
    a.session.handler = { onStream() {}, onDatagram: () => delivered++, onClose() {} };
    // bench/voicePayload.ts: the opus payload starts with the send time (µs, two BE u32).
    const opus = new Uint8Array(40);
    const sentAt = 3 * 0x1_0000_0000 + 12345;
    new DataView(opus.buffer).setUint32(0, 3);
    new DataView(opus.buffer).setUint32(4, 12345);
    a.session.sendDatagram(encodeVoicePacket({ mediaIds: [1], seq: 1, ts: 960, opus }));
    a.session.sendDatagram(Uint8Array.of(9, 9, 9));
    const stamps: number[] = [];
    await waitFor(() => {
      stamps.push(...endpoint.takeVoiceStamps());
      return endpoint.voiceSinkReceived === 2;
    }, 'both datagrams counted by the sink');
    stamps.push(...endpoint.takeVoiceStamps());
    assert.equal(stamps.length, 2, 'one (sent, received) pair: the unstamped datagram has none');
    assert.equal(stamps[0], sentAt);
    assert.ok(stamps[1]! > 0);
    assert.equal(delivered, 0, 'sink datagrams do not reach JavaScript');
    // Closing one session leaves the other and the endpoint up.
    await a.close();
    await echoes(b);
  });

  test('a write larger than the server stream window arrives whole as the server grants credit', async () => {
    // Flow control holds most of the write in the client's queue; the server's MAX_STREAM_DATA
    // and MAX_DATA are no event of their own, and the queue used to wait for one for good
    // (issue 17: a 60 KB message on a fresh stream never arrived).
    let received = 0;
    let ended = false;
    const server = await echoServer({
      receiveWindows: {
        connection: 64 * 1024,
        bidiRemote: 16 * 1024,
        bidiLocal: 16 * 1024,
        uni: 16 * 1024,
        maxStream: 32 * 1024,
        maxConnection: 128 * 1024,
      },
      onStream: (stream) => {
        stream.setHandler({
          onData: (bytes, fin) => {
            received += bytes.length;
            ended ||= fin;
          },
          onAbort() {},
        });
      },
    });
    const client = await connect(server.port, { insecure: true });
    const size = 1024 * 1024;
    client.session.openBidiStream().write(new Uint8Array(size), true);
    await waitFor(() => ended, 'the whole write and its FIN at the server');
    assert.equal(received, size);
  });

  test('a host name is resolved, and the certificate is checked against that name', async () => {
    // The server listens on 127.0.0.1 only; `localhost` may resolve to ::1 first (the system's
    // order): the address that answers wins, as in a browser.
    const server = await echoServer();
    const { certificatePem } = await testCertificate();
    const client = await connect(server.port, { host: 'localhost', caPem: certificatePem });
    assert.equal(client.h3.quic.remoteHost, '127.0.0.1');
    await echoes(client);
    await assert.rejects(
      connect(server.port, { host: 'no-such-host.invalid', insecure: true }),
      /ENOTFOUND|EAI_AGAIN/,
    );
  });
});

test('ODIN_QUIC_CLIENT_ENGINE=matrixai (the removed client) is refused, not ignored', async () => {
  process.env.ODIN_QUIC_CLIENT_ENGINE = 'matrixai';
  try {
    await assert.rejects(
      connectWebTransport({ host: '127.0.0.1', port: 9, path: '/main', insecure: true }),
      /ODIN_QUIC_CLIENT_ENGINE=matrixai: the @matrixai\/quic client was removed/,
    );
  } finally {
    delete process.env.ODIN_QUIC_CLIENT_ENGINE;
  }
});
