/**
 * Web voice over ICE-TCP through the real grid: a peer whose network allows only TCP and a peer
 * on UDP share a room and hear each other; the metrics count peers and voice per transport.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { OdinClient, OdinRoom } from '../../client/odinClient.ts';
import { GridMetrics } from '../../server/observability/metrics.ts';
import { openWebRtcPeerConnections } from '../../server/transports/web/webrtc/webRtcSession.ts';
import { eventually, startTestGrid, type TestGrid } from '../helpers/testGrid.ts';
import { sameBytes, VoiceInbox, voicePackets } from '../helpers/voice.ts';
import { parseExposition, sampleValue } from '../observability/metricsHelpers.ts';

type Speaker = { client: OdinClient; room: OdinRoom; inbox: VoiceInbox };

for (const enforceTcp of [false, true]) {
  describe(`web voice over ICE-TCP (webrtc_enforce_tcp = ${enforceTcp})`, () => {
    let grid: TestGrid;
    let metrics: GridMetrics;
    let tcp: Speaker;
    let other: Speaker;

    async function join(user: string, voiceTransport: 'udp' | 'tcp'): Promise<Speaker> {
      const client = await grid.connect(user, 'voice', { voice: true, voiceTransport });
      const inbox = new VoiceInbox(client);
      const room = await client.joinRoom('voice');
      await room.startMedia();
      return { client, room, inbox };
    }

    before(async () => {
      grid = await startTestGrid(enforceTcp ? { toml: '[http]\nwebrtc_enforce_tcp = true\n' } : {});
      metrics = new GridMetrics({ config: { global_labels: {} }, defaultMetrics: false });
      metrics.watchWebRtc(() => grid.webListener!.webRtcStats);
      tcp = await join('behind-a-firewall', 'tcp');
      // With TCP enforced, the UDP-capable client is offered TCP only and must take it.
      other = await join('on-udp', enforceTcp ? 'tcp' : 'udp');
      await eventually(() => tcp.room.peers.size === 1 && other.room.peers.size === 1, 'both see each other');
    });
    after(async () => {
      metrics.dispose();
      await grid.close();
      await eventually(() => openWebRtcPeerConnections() === 0, 'every server peer connection to close');
    });

    test('the two peers hear each other, byte for byte', async () => {
      const fromTcp = voicePackets(tcp.room.mediaId, 20);
      for (const packet of fromTcp) assert.ok(tcp.client.sendVoice(packet));
      await other.inbox.waitFor(fromTcp.length);
      assert.ok(sameBytes(other.inbox.packets, fromTcp));
      const fromOther = voicePackets(other.room.mediaId, 20);
      for (const packet of fromOther) assert.ok(other.client.sendVoice(packet));
      await tcp.inbox.waitFor(fromOther.length);
      assert.ok(sameBytes(tcp.inbox.packets, fromOther));
    });

    test('metrics count web peers and voice by transport', async () => {
      const samples = parseExposition((await metrics.scrape()).text);
      const value = (name: string, labels: Record<string, string>) => sampleValue(samples, name, labels);
      assert.equal(value('grid_web_peers', { transport: 'tcp' }), enforceTcp ? 2 : 1);
      assert.equal(value('grid_web_peers', { transport: 'udp' }), enforceTcp ? 0 : 1);
      assert.ok(value('grid_web_voice_packets_total', { direction: 'in', transport: 'tcp' })! >= 20);
      assert.ok(value('grid_web_voice_packets_total', { direction: 'out', transport: 'tcp' })! >= 20);
      if (!enforceTcp) {
        assert.ok(value('grid_web_voice_packets_total', { direction: 'in', transport: 'udp' })! >= 20);
        assert.ok(value('grid_web_voice_packets_total', { direction: 'out', transport: 'udp' })! >= 20);
      }
      assert.equal(value('grid_web_ice_tcp_connections', { state: 'authenticated' }), enforceTcp ? 2 : 1);
      assert.equal(value('grid_web_ice_tcp_closed_total', { reason: 'garbage' }), 0);
    });
  });
}
