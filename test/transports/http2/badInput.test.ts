/**
 * Bad input on the WebTransport over HTTP/2 path (docs/security.md): a garbage HTTP/2 preface,
 * an oversized capsule, a connection that opens no session, a session that never authenticates,
 * too many bytes before authenticating, a connection gone silent. Each is closed and counted,
 * and an HTTP/2 peer and a QUIC peer in one room keep talking throughout.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { OdinQuicClient, type OdinRoom } from '../../../client/quic/odinQuicClient.ts';
import { MetricsListener } from '../../../server/observability/metricsListener.ts';
import { CapsuleReader, CapsuleType, parseCloseSession } from '../../../server/transports/quic/capsule.ts';
import type { WebTransportH2Server } from '../../../server/transports/quic/h2Server.ts';
import { encodeVarint } from '../../../server/transports/quic/varint.ts';
import { needsNativeAddon } from '../../helpers/nativeAddon.ts';
import { eventually, startTestGrid, type TestGrid } from '../../helpers/testGrid.ts';
import { voicePackets } from '../../helpers/voice.ts';
import { get, parseExposition, sampleValue } from '../../observability/metricsHelpers.ts';
import { freeUdpPort } from '../quic/helpers.ts';

const bytes = (value: string) => new TextEncoder().encode(value);
const text = (value: Uint8Array) => new TextDecoder().decode(value);

/** The extended CONNECT of a WebTransport session on /main (RFC 8441). */
function connectHeaders(port: number): http2.OutgoingHttpHeaders {
  return {
    ':method': 'CONNECT',
    ':protocol': 'webtransport',
    ':scheme': 'https',
    ':path': '/main',
    ':authority': `localhost:${port}`,
  };
}

/** An h2 connection with a WebTransport CONNECT on /main, written by hand. */
async function rawSession(port: number) {
  const connection = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  connection.on('error', () => {});
  await once(connection, 'remoteSettings');
  const stream = connection.request(connectHeaders(port), { endStream: false });
  stream.on('error', () => {});
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise<void>((resolve) => stream.on('close', () => resolve()));
  const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  return {
    connection,
    stream,
    status: Number(headers[':status']),
    closed,
    /** The WT_CLOSE_SESSION the server sent, if any. */
    closeCapsule(): { code: number; reason: string } | undefined {
      const reader = new CapsuleReader(1 << 20);
      reader.push(new Uint8Array(Buffer.concat(chunks)));
      for (let capsule = reader.next(); capsule !== undefined; capsule = reader.next()) {
        if (capsule.type === CapsuleType.CLOSE_WEBTRANSPORT_SESSION) return parseCloseSession(capsule.value);
      }
      return undefined;
    },
  };
}

describe(
  'WebTransport over HTTP/2: bad input is closed and counted, the others keep talking',
  needsNativeAddon,
  () => {
    let grid: TestGrid;
    let port: number;
    let server: WebTransportH2Server;
    let alice: OdinRoom;
    let bob: OdinRoom;
    let aliceClient: OdinQuicClient;
    let bobClient: OdinQuicClient;

    before(async () => {
      const quicPort = await freeUdpPort();
      // Short deadlines so the tests see them; the legitimate clients PING often enough.
      grid = await startTestGrid({
        toml: `[quic]\nbinding = "127.0.0.1:${quicPort}"\nconnect_timeout = 1500\nidle_timeout = 2000\nkeep_alive_interval = 300\n[metrics]\nbinding = "127.0.0.1:0"\n`,
      });
      port = grid.webListener.port;
      server = grid.webListener.http2 as WebTransportH2Server;
      aliceClient = await OdinQuicClient.connect({
        host: '127.0.0.1',
        port,
        transport: 'http2',
        insecure: true,
        keepAliveMs: 300,
        log: () => {},
      });
      bobClient = await OdinQuicClient.connect({
        host: '127.0.0.1',
        port: quicPort,
        transport: 'quic',
        insecure: true,
        keepAliveMs: 300,
      });
      alice = await aliceClient.joinRoom(await grid.token('pair', 'alice'), 'pair');
      bob = await bobClient.joinRoom(await grid.token('pair', 'bob'), 'pair');
      await alice.startMedia();
    });
    after(async () => {
      await aliceClient?.close().catch(() => {});
      await bobClient?.close().catch(() => {});
      await grid.close();
    });

    /** The pair still exchanges a message and voice. */
    async function pairStillTalks(round: string): Promise<void> {
      const message = bob.next('message');
      await alice.sendMessage(bytes(round));
      assert.equal(text((await message)[0].message), round);
      const heard: Uint8Array[] = [];
      bobClient.onVoice = (packet) => heard.push(packet);
      for (const packet of voicePackets(alice.mediaId, 3)) aliceClient.sendVoice(packet);
      await eventually(() => heard.length >= 3, `voice from the HTTP/2 peer after ${round}`);
    }

    test('a garbage HTTP/2 preface closes the connection and counts a protocol error', async () => {
      const before = server.stats.protocolErrors;
      const socket = tlsConnect({
        host: '127.0.0.1',
        port,
        rejectUnauthorized: false,
        ALPNProtocols: ['h2'],
      });
      socket.on('error', () => {});
      socket.resume(); // read (and drop) the server's SETTINGS and GOAWAY, so the close arrives
      await once(socket, 'secureConnect');
      assert.equal(socket.alpnProtocol, 'h2');
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\nthis is not an HTTP/2 preface at all');
      await once(socket, 'close');
      await eventually(() => server.stats.protocolErrors === before + 1, 'the protocol error counted');
      await pairStillTalks('after a garbage preface');
    });

    test('a capsule longer than the limit closes the session (code 1) before its bytes are buffered', async () => {
      const before = server.stats.protocolErrors;
      const raw = await rawSession(port);
      assert.equal(raw.status, 200);
      // WT_STREAM claiming 1 GiB: refused when its length is read.
      raw.stream.write(Buffer.concat([encodeVarint(0x190b4d3b), encodeVarint(2 ** 30), Buffer.alloc(64)]));
      await raw.closed;
      const close = raw.closeCapsule();
      assert.equal(close?.code, 1);
      assert.match(close?.reason ?? '', /exceeds our limit/);
      assert.equal(server.stats.protocolErrors, before + 1);
      raw.connection.destroy();
      await pairStillTalks('after an oversized capsule');
    });

    test('a connection that opens no session is closed at connect_timeout and counted', async () => {
      const before = server.stats.connectTimeouts;
      const connection = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
      connection.on('error', () => {});
      await once(connection, 'remoteSettings');
      await once(connection, 'close');
      assert.equal(server.stats.connectTimeouts, before + 1);
      await pairStillTalks('after a half-open connection');
    });

    test('a session that never authenticates is closed at connect_timeout and counted', async () => {
      const before = server.stats.authTimeouts;
      const raw = await rawSession(port);
      assert.equal(raw.status, 200);
      await raw.closed;
      assert.match(raw.closeCapsule()?.reason ?? '', /not authenticated within 1500 ms \(connect_timeout\)/);
      assert.equal(server.stats.authTimeouts, before + 1);
      raw.connection.destroy();
      await pairStillTalks('after an unauthenticated session');
    });

    test('more than 64 KiB before authenticating closes the session and counts', async () => {
      const before = server.stats.preAuthBytesExceeded;
      const raw = await rawSession(port);
      // Datagrams are not flow controlled: 80 of 1 KiB, with no client to route them to.
      const datagram = Buffer.concat([Buffer.from([0x00]), encodeVarint(1024), Buffer.alloc(1024)]);
      for (let i = 0; i < 80; i++) raw.stream.write(datagram);
      await raw.closed;
      assert.match(raw.closeCapsule()?.reason ?? '', /before authenticating \(limit 65536\)/);
      assert.equal(server.stats.preAuthBytesExceeded, before + 1);
      raw.connection.destroy();
      await pairStillTalks('after a pre-authentication flood');
    });

    test('an authenticated connection gone silent is closed at idle_timeout and counted', async () => {
      const before = server.stats.idleTimeouts;
      const silent = await OdinQuicClient.connect({
        host: '127.0.0.1',
        port,
        transport: 'http2',
        insecure: true,
        keepAliveMs: 0,
        log: () => {},
      });
      await silent.joinRoom(await grid.token('quiet', 'dora'), 'quiet');
      await eventually(() => silent.closeInfo !== undefined, 'the silent connection closed', 15_000);
      assert.equal(server.stats.idleTimeouts, before + 1);
      await silent.close().catch(() => {});
      await pairStillTalks('after a silent connection');
    });

    test('a second session on one connection is answered 429; other requests 404', async () => {
      const raw = await rawSession(port);
      const second = raw.connection.request(connectHeaders(port), { endStream: false });
      second.on('error', () => {});
      const [headers] = (await once(second, 'response')) as [http2.IncomingHttpHeaders];
      assert.equal(headers[':status'], 429);
      const get = raw.connection.request({ ':path': '/' });
      get.on('error', () => {});
      const [answer] = (await once(get, 'response')) as [http2.IncomingHttpHeaders];
      assert.equal(answer[':status'], 404);
      raw.connection.destroy();
    });

    test('the closes are in the metrics by reason', async () => {
      const metricsPort = grid.listeners.find((l) => l instanceof MetricsListener)?.address?.port;
      assert.ok(metricsPort);
      const samples = parseExposition((await get(metricsPort, '/metrics')).body);
      const closed = (reason: string) => sampleValue(samples, 'grid_native_http2_closed_total', { reason });
      assert.equal(closed('protocol_error'), server.stats.protocolErrors);
      assert.ok((closed('protocol_error') ?? 0) >= 2, 'the garbage preface and the oversized capsule');
      assert.equal(closed('connect_timeout'), 1);
      assert.equal(closed('auth_timeout'), 1);
      assert.equal(closed('pre_auth_bytes'), 1);
      assert.equal(closed('idle_timeout'), 1);
    });
  },
);
