/**
 * Voice through the server over real WebRTC (werift clients, the server's one UDP port):
 * packets are forwarded unchanged to peers in range, not to peers out of range, and a
 * receiver's PauseMedia/ResumeMedia affects that receiver only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { OdinClient, OdinRoom } from '../../client/odinClient.ts';
import type { Position } from '../../server/protocol/methods.ts';
import { openWebRtcPeerConnections } from '../../server/transports/web/webrtc/webRtcSession.ts';
import { eventually, startTestGrid, type TestGrid } from '../helpers/testGrid.ts';
import { sameBytes, VoiceInbox, voicePackets } from '../helpers/voice.ts';

type Speaker = { client: OdinClient; room: OdinRoom; inbox: VoiceInbox };

describe('voice through WebRTC', () => {
  let grid: TestGrid;
  let alice: Speaker;
  let bob: Speaker;
  let carol: Speaker;

  async function join(user: string, position: Position): Promise<Speaker> {
    const client = await grid.connect(user, 'voice', { voice: true });
    const inbox = new VoiceInbox(client);
    const room = await client.joinRoom('voice', { position });
    return { client, room, inbox };
  }

  function send(from: Speaker, packets: Uint8Array[]): void {
    for (const packet of packets)
      assert.ok(from.client.sendVoice(packet), 'the voice channel takes the packet');
  }

  before(async () => {
    grid = await startTestGrid();
    [alice, bob, carol] = await Promise.all([
      join('alice', [0, 0]),
      join('bob', [0.5, 0]),
      join('carol', [10, 0]),
    ]);
    await alice.room.startMedia();
    assert.equal(openWebRtcPeerConnections(), 3);
  });
  after(async () => {
    await grid.close();
    await eventually(() => openWebRtcPeerConnections() === 0, 'every server peer connection to close');
  });

  test('a peer in range receives the voice packets byte for byte; a peer out of range gets none', async () => {
    const before = grid.sfu.voiceStats.forwarded;
    const packets = voicePackets(alice.room.mediaId, 20);
    send(alice, packets);
    await bob.inbox.waitFor(packets.length);
    assert.ok(sameBytes(bob.inbox.packets, packets), 'forwarded unchanged');
    assert.equal(grid.sfu.voiceStats.forwarded - before, packets.length, 'to bob only');
    assert.deepEqual(carol.inbox.packets, []);
    assert.deepEqual(alice.inbox.packets, [], 'a sender does not hear itself');
    bob.inbox.clear();
  });

  test('voice flows both ways', async () => {
    await bob.room.startMedia();
    const packets = voicePackets(bob.room.mediaId, 10);
    send(bob, packets);
    await alice.inbox.waitFor(packets.length);
    assert.ok(sameBytes(alice.inbox.packets, packets));
    await bob.room.stopMedia();
    alice.inbox.clear();
  });

  test('PauseMedia stops a media for that receiver only; ResumeMedia resumes it', async () => {
    const carolSeesAlice = carol.room.next('update', (u) => u.kind === 'PeerJoined');
    await carol.room.setPosition([0, 0.5]);
    await carolSeesAlice;

    assert.equal(await bob.room.pauseMedia(alice.room.mediaId), null);
    const before = grid.sfu.voiceStats.forwarded;
    const paused = voicePackets(alice.room.mediaId, 10);
    send(alice, paused);
    await carol.inbox.waitFor(paused.length);
    assert.ok(sameBytes(carol.inbox.packets, paused));
    assert.equal(grid.sfu.voiceStats.forwarded - before, paused.length, 'none went to bob');
    assert.deepEqual(bob.inbox.packets, []);

    assert.equal(await bob.room.resumeMedia(alice.room.mediaId), null);
    const resumed = voicePackets(alice.room.mediaId, 10);
    send(alice, resumed);
    await bob.inbox.waitFor(resumed.length);
    await carol.inbox.waitFor(paused.length + resumed.length);
    assert.ok(sameBytes(bob.inbox.packets, resumed));
    bob.inbox.clear();
    carol.inbox.clear();
  });

  test("pausing an unknown media or one's own is refused, naming the media", async () => {
    await assert.rejects(bob.room.pauseMedia(0xfff0), /PauseMedia: no media 65520 in this room/);
    await assert.rejects(alice.room.pauseMedia(alice.room.mediaId), /is this peer's own/);
  });

  test('moving out of range stops the voice; packets of a media not started are dropped and counted', async () => {
    const carolLeft = carol.room.next('update', (u) => u.kind === 'PeerLeft');
    await carol.room.setPosition([10, 0]);
    await carolLeft;
    const unknownBefore = grid.sfu.voiceStats.unknown_media;
    const notStarted = alice.room.joined.media_ids[0]!;
    send(alice, voicePackets(notStarted, 3));
    const packets = voicePackets(alice.room.mediaId, 5);
    send(alice, packets);
    await bob.inbox.waitFor(packets.length);
    assert.ok(sameBytes(bob.inbox.packets, packets), 'only the started media reached bob');
    await eventually(
      () => grid.sfu.voiceStats.unknown_media - unknownBefore === 3,
      'the 3 drops to be counted',
    );
    assert.deepEqual(carol.inbox.packets, []);
    bob.inbox.clear();
  });

  test('StopMedia: the others get MediaStopped and its packets are no longer forwarded', async () => {
    const stopped = bob.room.next('peerUpdated', (u) => u.kind === 'MediaStopped');
    await alice.room.stopMedia();
    const [update] = await stopped;
    assert.equal(update.media_id, alice.room.mediaId);
    const unknownBefore = grid.sfu.voiceStats.unknown_media;
    send(alice, voicePackets(alice.room.mediaId, 3));
    await eventually(
      () => grid.sfu.voiceStats.unknown_media - unknownBefore === 3,
      'the 3 drops to be counted',
    );
    assert.deepEqual(bob.inbox.packets, []);
  });

  test('a client that closes frees its server peer connection', async () => {
    await carol.client.close();
    await eventually(() => openWebRtcPeerConnections() === 2, "carol's server peer connection to close");
    assert.equal(grid.webListener.mux?.sizes.endpoints, 2);
  });
});
