/**
 * Voice between native peers forwarded inside the addon by the table the core pushes
 * (server/transports/quic/nativeVoice.ts, native/quic/src/forward.rs), on a real grid with
 * `[quic] engine = "native"` and the real Node client: two native peers hear each other without
 * their packets entering the JavaScript router; a pause and a move out of range reach the
 * table at once; a web peer in the room still hears a native peer, and native receivers get
 * each packet once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OdinQuicClient, type OdinRoom } from '../../client/quic/odinQuicClient.ts';
import type { Position } from '../../server/protocol/methods.ts';
import { needsNativeAddon } from '../helpers/nativeAddon.ts';
import { eventually, startTestGrid, type TestGrid } from '../helpers/testGrid.ts';
import { sameBytes, VoiceInbox, voicePackets } from '../helpers/voice.ts';
import { freeUdpPort } from '../transports/quic/helpers.ts';

type Native = { client: OdinQuicClient; room: OdinRoom; packets: Uint8Array[] };

describe('voice forwarded inside the native addon', needsNativeAddon, () => {
  let grid: TestGrid;
  let port: number;
  const clients: OdinQuicClient[] = [];
  let rooms = 0;

  async function native(user: string, room: string, position: Position = [0, 0]): Promise<Native> {
    const client = await OdinQuicClient.connect({ host: '127.0.0.1', port, insecure: true });
    clients.push(client);
    const packets: Uint8Array[] = [];
    client.onVoice = (bytes) => packets.push(Uint8Array.from(bytes));
    const joined = await client.joinRoom(await grid.token(room, user), room, { position });
    return { client, room: joined, packets };
  }

  const stats = () => grid.quicListener!.stats;
  const got = (peer: Native, count: number) =>
    eventually(() => peer.packets.length >= count, `${count} voice datagrams (have ${peer.packets.length})`);
  function send(from: Native, count: number): Uint8Array[] {
    const packets = voicePackets(from.room.mediaId, count);
    for (const packet of packets) assert.ok(from.client.sendVoice(packet));
    return packets;
  }

  before(async () => {
    port = await freeUdpPort();
    grid = await startTestGrid({ toml: `[quic]\nengine = "native"\nbinding = "127.0.0.1:${port}"\n` });
  });
  after(async () => {
    for (const client of clients) await client.close().catch(() => {});
    await grid.close();
  });

  test('two native peers hear each other by the table; their packets never reach the JavaScript router', async () => {
    const room = `pair-${++rooms}`;
    const alice = await native('alice', room);
    const bob = await native('bob', room);
    await alice.room.startMedia();
    await bob.room.startMedia();
    const routerBefore = grid.sfu.voiceStats.received;
    const forwardedBefore = stats().nativeVoiceForwarded ?? 0;

    const fromAlice = send(alice, 20);
    await got(bob, 20);
    const fromBob = send(bob, 20);
    await got(alice, 20);
    assert.ok(sameBytes(bob.packets, fromAlice), 'bob got alice’s bytes unchanged');
    assert.ok(sameBytes(alice.packets, fromBob), 'alice got bob’s bytes unchanged');
    assert.equal(grid.sfu.voiceStats.received, routerBefore, 'no packet entered the JavaScript router');
    assert.equal((stats().nativeVoiceForwarded ?? 0) - forwardedBefore, 40);
  });

  test('a pause reaches the table: the paused receiver hears nothing until it resumes', async () => {
    const room = `pause-${++rooms}`;
    const alice = await native('alice', room);
    const bob = await native('bob', room);
    const carol = await native('carol', room);
    await alice.room.startMedia();
    const routerBefore = grid.sfu.voiceStats.received;
    await bob.room.pauseMedia(alice.room.mediaId);
    send(alice, 10);
    await got(carol, 10);
    await bob.room.resumeMedia(alice.room.mediaId);
    const afterResume = send(alice, 10);
    await got(carol, 20);
    await got(bob, 10);
    assert.ok(sameBytes(bob.packets, afterResume), 'bob heard exactly what alice sent after he resumed');
    assert.equal(grid.sfu.voiceStats.received, routerBefore, 'the table, not the JavaScript router, did it');
  });

  test('proximity reaches the table: out of range hears nothing, back in range hears again', async () => {
    const room = `move-${++rooms}`;
    const alice = await native('alice', room);
    const bob = await native('bob', room);
    const carol = await native('carol', room);
    await alice.room.startMedia();
    const routerBefore = grid.sfu.voiceStats.received;
    await bob.room.setPosition([10, 0]);
    send(alice, 10);
    await got(carol, 10);
    await bob.room.setPosition([0.5, 0]);
    const inRange = send(alice, 10);
    await got(carol, 20);
    await got(bob, 10);
    assert.ok(sameBytes(bob.packets, inRange), 'bob heard exactly what alice sent once back in range');
    assert.equal(grid.sfu.voiceStats.received, routerBefore, 'the table, not the JavaScript router, did it');
  });

  test('a web peer hears a native peer; native receivers still get each packet once', async () => {
    const room = `mixed-${++rooms}`;
    const alice = await native('alice', room);
    const bob = await native('bob', room);
    const web = await grid.connect('carol', room, { voice: true, localAddress: '127.0.0.1' });
    const webInbox = new VoiceInbox(web);
    await web.joinRoom(room, { position: [0, 0] });
    await eventually(() => grid.sfu.getRoom('', room)?.peers.size === 3, 'three peers');
    await alice.room.startMedia();
    const fromAlice = send(alice, 20);
    await webInbox.waitFor(20);
    await got(bob, 20);
    assert.ok(sameBytes(webInbox.packets, fromAlice), 'the web peer got the bytes unchanged');
    // A last packet after the web peer has all 20: had bob been sent a copy from JavaScript
    // too, those copies would have arrived before it.
    const last = send(alice, 1);
    await got(bob, 21);
    await webInbox.waitFor(21);
    assert.ok(sameBytes(bob.packets, [...fromAlice, ...last]), 'bob got each packet once');
  });
});
