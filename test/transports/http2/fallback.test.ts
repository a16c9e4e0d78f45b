/**
 * WebTransport over HTTP/2 end to end (docs/protocol.md): a Node client whose QUIC target never
 * answers (a UDP port that drops everything, as a network that blocks UDP does) falls back to
 * HTTP/2 on the [http] port by the answer timeout alone, says so, and exchanges voice and
 * messages with a QUIC peer and a web (WebRTC) peer in the same room.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { OdinQuicClient, type OdinRoom } from '../../../client/quic/odinQuicClient.ts';
import { MetricsListener } from '../../../server/observability/metricsListener.ts';
import { needsNativeAddon } from '../../helpers/nativeAddon.ts';
import { eventually, startTestGrid, type TestGrid } from '../../helpers/testGrid.ts';
import { sameBytes, VoiceInbox, voicePackets } from '../../helpers/voice.ts';
import { get, parseExposition, sampleValue } from '../../observability/metricsHelpers.ts';
import { freeUdpPort } from '../quic/helpers.ts';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytes = (value: string) => new TextEncoder().encode(value);

class Inbox {
  readonly packets: Uint8Array[] = [];
  constructor(client: OdinQuicClient) {
    client.onVoice = (packet) => this.packets.push(Uint8Array.from(packet));
  }
  waitFor(count: number): Promise<void> {
    return eventually(
      () => this.packets.length >= count,
      `${count} voice packets (have ${this.packets.length})`,
    );
  }
}

/** A UDP port that receives and never answers: QUIC to it gets no packet back. */
async function blackHole(): Promise<{ socket: Socket; port: number; received: () => number }> {
  const socket = createSocket('udp4');
  let received = 0;
  socket.on('message', () => received++);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, port: socket.address().port, received: () => received };
}

describe('WebTransport over HTTP/2: the fallback for networks that block UDP', needsNativeAddon, () => {
  let grid: TestGrid;
  let quicPort: number;
  let hole: Awaited<ReturnType<typeof blackHole>>;
  const clients: OdinQuicClient[] = [];

  before(async () => {
    quicPort = await freeUdpPort();
    grid = await startTestGrid({
      toml: `[quic]\nbinding = "127.0.0.1:${quicPort}"\n[metrics]\nbinding = "127.0.0.1:0"\n`,
    });
    hole = await blackHole();
  });
  after(async () => {
    for (const client of clients) await client.close().catch(() => {});
    hole.socket.close();
    await grid.close();
  });

  async function join(client: OdinQuicClient, user: string, room: string): Promise<OdinRoom> {
    clients.push(client);
    return client.joinRoom(await grid.token(room, user), room);
  }

  test('a client whose QUIC gets no answer falls back to HTTP/2 and shares a room with a QUIC and a web peer', async () => {
    const lines: string[] = [];
    const blocked = await OdinQuicClient.connect({
      host: '127.0.0.1',
      port: hole.port,
      http2Port: grid.webListener.port,
      insecure: true,
      quicAnswerTimeoutMs: 300,
      log: (line) => lines.push(line),
    });
    assert.equal(blocked.transportKind, 'http2', 'the client says it uses HTTP/2');
    assert.ok(hole.received() > 0, 'it did try QUIC first (its Initials reached the silent port)');
    assert.match(
      lines.join('\n'),
      /QUIC .* did not answer within 300 ms; connected over WebTransport over HTTP\/2/,
    );
    const alice = await join(blocked, 'alice', 'tcp-room');
    const aliceInbox = new Inbox(blocked);

    const quicClient = await OdinQuicClient.connect({
      host: '127.0.0.1',
      port: quicPort,
      insecure: true,
      log: () => {},
    });
    assert.equal(quicClient.transportKind, 'quic');
    const bob = await join(quicClient, 'bob', 'tcp-room');
    const bobInbox = new Inbox(quicClient);

    const web = await grid.connect('carol', 'tcp-room', { voice: true, localAddress: '127.0.0.1' });
    const webInbox = new VoiceInbox(web);
    const carol = await web.joinRoom('tcp-room', { position: [0, 0] });

    await alice.startMedia();
    await bob.startMedia();
    await carol.startMedia();
    await eventually(() => grid.sfu.getRoom('', 'tcp-room')?.peers.size === 3, 'three peers');

    // Voice from the HTTP/2 client reaches the QUIC and the web peer byte for byte.
    const fromAlice = voicePackets(alice.mediaId, 20);
    for (const packet of fromAlice) assert.ok(blocked.sendVoice(packet));
    await bobInbox.waitFor(20);
    await webInbox.waitFor(20);
    assert.ok(sameBytes(bobInbox.packets, fromAlice), 'the QUIC peer got the bytes unchanged');
    assert.ok(sameBytes(webInbox.packets, fromAlice), 'the web peer got the bytes unchanged');

    // And back: QUIC and web voice reach the HTTP/2 client.
    const fromBob = voicePackets(bob.mediaId, 10);
    for (const packet of fromBob) assert.ok(quicClient.sendVoice(packet));
    await aliceInbox.waitFor(10);
    const fromCarol = voicePackets(carol.mediaId, 10);
    for (const packet of fromCarol) assert.ok(web.sendVoice(packet));
    await aliceInbox.waitFor(20);
    assert.ok(
      sameBytes(aliceInbox.packets.slice(0, 10), fromBob),
      'the HTTP/2 peer got the QUIC packets unchanged',
    );
    assert.ok(
      sameBytes(aliceInbox.packets.slice(10), fromCarol),
      'the HTTP/2 peer got the web packets unchanged',
    );

    // Messages both ways.
    const atBob = bob.next('message');
    const atCarol = carol.next('message');
    await alice.sendMessage(bytes('hello over tcp'));
    assert.equal(text((await atBob)[0].message), 'hello over tcp');
    assert.equal(text((await atCarol)[0].message), 'hello over tcp');
    const atAlice = alice.next('message');
    await bob.sendMessage(bytes('hello over quic'));
    assert.equal(text((await atAlice)[0].message), 'hello over quic');

    // The metrics per transport: one native peer on each, the voice sent to each.
    const metricsPort = grid.listeners.find((l) => l instanceof MetricsListener)?.address?.port;
    assert.ok(metricsPort, 'the [metrics] listener');
    const samples = parseExposition((await get(metricsPort, '/metrics')).body);
    assert.equal(sampleValue(samples, 'grid_native_peers', { transport: 'http2' }), 1);
    assert.equal(sampleValue(samples, 'grid_native_peers', { transport: 'quic' }), 1);
    assert.equal(
      sampleValue(samples, 'grid_native_voice_packets_forwarded_total', { transport: 'http2' }),
      20,
    );
    // bob (QUIC) heard alice's 20 and carol's 10; alice (HTTP/2) heard bob's 10 and carol's 10.
    assert.equal(
      sampleValue(samples, 'grid_native_voice_packets_forwarded_total', { transport: 'quic' }),
      30,
    );
  });

  test('transport: "http2" connects over HTTP/2 without trying QUIC; "quic" never falls back', async () => {
    const before = hole.received();
    const forced = await OdinQuicClient.connect({
      host: '127.0.0.1',
      port: grid.webListener.port,
      transport: 'http2',
      insecure: true,
      log: () => {},
    });
    clients.push(forced);
    assert.equal(forced.transportKind, 'http2');
    assert.equal(await forced.main.request('Ping', {}), null);
    assert.equal(hole.received(), before, 'no QUIC packet sent');
    await assert.rejects(
      OdinQuicClient.connect({
        host: '127.0.0.1',
        port: hole.port,
        transport: 'quic',
        insecure: true,
        timeoutMs: 500,
      }),
      /not done within 500 ms/,
    );
  });

  test('a browser-like client offering http/1.1 and h2 stays on HTTP/1.1 (the web SDK is untouched)', async () => {
    const { connect } = await import('node:tls');
    const protocol = await new Promise<string | false | null>((resolve, reject) => {
      const socket = connect(
        {
          host: '127.0.0.1',
          port: grid.webListener.port,
          rejectUnauthorized: false,
          ALPNProtocols: ['h2', 'http/1.1'],
        },
        () => {
          resolve(socket.alpnProtocol);
          socket.destroy();
        },
      );
      socket.on('error', reject);
    });
    assert.equal(protocol, 'http/1.1');
  });
});
