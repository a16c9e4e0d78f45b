/**
 * The native transport end to end on a real in-process grid: WebTransport sessions on /main,
 * generation B joins over the main stream, room streams bound by stream id, voice as datagrams,
 * and a web (WebRTC) peer in the same room hearing the native peers byte for byte.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OdinQuicClient, type OdinRoom } from '../../../client/quic/odinQuicClient.ts';
import { needsNativeAddon } from '../../helpers/nativeAddon.ts';
import { eventually, startTestGrid, type TestGrid } from '../../helpers/testGrid.ts';
import { sameBytes, VoiceInbox, voicePackets } from '../../helpers/voice.ts';
import { freeUdpPort } from './helpers.ts';

class QuicInbox {
  readonly packets: Uint8Array[] = [];
  constructor(client: OdinQuicClient) {
    client.onVoice = (bytes) => this.packets.push(Uint8Array.from(bytes));
  }
  async waitFor(count: number): Promise<void> {
    await eventually(
      () => this.packets.length >= count,
      `${count} voice datagrams (have ${this.packets.length})`,
    );
  }
}

describe('ODIN over WebTransport', needsNativeAddon, () => {
  let grid: TestGrid;
  let port: number;
  const clients: OdinQuicClient[] = [];

  async function native(
    user: string,
    room = 'mixed',
  ): Promise<{ client: OdinQuicClient; room: OdinRoom; inbox: QuicInbox }> {
    const client = await OdinQuicClient.connect({ host: '127.0.0.1', port, insecure: true });
    clients.push(client);
    const inbox = new QuicInbox(client);
    const joined = await client.joinRoom(await grid.token(room, user), room);
    return { client, room: joined, inbox };
  }

  before(async () => {
    port = await freeUdpPort();
    grid = await startTestGrid({
      toml: `[quic]\nbinding = "127.0.0.1:${port}"\nno_peers_timeout = 2500\n`,
    });
  });
  after(async () => {
    for (const client of clients) await client.close().catch(() => {});
    await grid.close();
  });

  test('a native client joins with JoinRoom {token} and gets Joined on its room stream', async () => {
    const alice = await native('alice', 'solo');
    assert.ok(alice.room.joined, 'Joined arrived');
    assert.equal(alice.room.joined.own_peer_id, alice.room.peerId);
    assert.ok(alice.room.joined.media_ids.length > 0);
    assert.equal(grid.sfu.getRoom('', 'solo')?.peers.size, 1);
  });

  test('native and web peers in one room hear each other byte for byte', async () => {
    const alice = await native('alice');
    const bob = await native('bob');
    const web = await grid.connect('carol', 'mixed', { voice: true, localAddress: '127.0.0.1' });
    const webInbox = new VoiceInbox(web);
    const webRoom = await web.joinRoom('mixed', { position: [0, 0] });
    await alice.room.startMedia();
    await webRoom.startMedia();
    await eventually(() => grid.sfu.getRoom('', 'mixed')?.peers.size === 3, 'three peers');

    const fromAlice = voicePackets(alice.room.mediaId, 20);
    for (const packet of fromAlice) assert.ok(alice.client.sendVoice(packet));
    await bob.inbox.waitFor(20);
    await webInbox.waitFor(20);
    assert.ok(sameBytes(bob.inbox.packets, fromAlice), 'the native peer got the bytes unchanged');
    assert.ok(sameBytes(webInbox.packets, fromAlice), 'the web peer got the bytes unchanged');
    assert.equal(alice.inbox.packets.length, 0, 'a sender does not hear itself');

    const fromWeb = voicePackets(webRoom.mediaId, 10);
    for (const packet of fromWeb) assert.ok(web.sendVoice(packet));
    await alice.inbox.waitFor(10);
    assert.ok(sameBytes(alice.inbox.packets, fromWeb), 'the native peer got the web packets unchanged');
  });

  test('a room stream with an unknown stream id is reset; the session keeps working', async () => {
    const client = await OdinQuicClient.connect({ host: '127.0.0.1', port, insecure: true });
    clients.push(client);
    const { RpcStream } = await import('../../../client/quic/odinQuicClient.ts');
    const { encode } = await import('@msgpack/msgpack');
    const stream = new RpcStream(client.transport.session.openBidiStream(), 2_000);
    stream.sendRaw(encode(12345));
    await eventually(() => stream.ended, 'the stream reset');
    assert.equal(await client.main.request('Ping', {}), null);
  });

  test('a client that joins no room is closed after no_peers_timeout', async () => {
    const client = await OdinQuicClient.connect({ host: '127.0.0.1', port, insecure: true });
    clients.push(client);
    assert.equal(await client.main.request('Ping', {}), null);
    await eventually(() => client.closeInfo !== undefined, 'the session close');
    assert.match(client.closeInfo!.reason, /no_peers_timeout/);
  });

  test('leaving: closing the room stream makes the peer leave', async () => {
    const dave = await native('dave', 'leave-room');
    assert.equal(grid.sfu.getRoom('', 'leave-room')?.peers.size, 1);
    dave.room.leave();
    await eventually(() => grid.sfu.getRoom('', 'leave-room') === undefined, 'the room to close');
  });
});
