/**
 * The behaviour of the `[quic]` keys that shape a connection's life, against a real grid over
 * real QUIC on loopback (a UDP relay in between plays the network): `migration`,
 * `idle_timeout`, `keep_alive_interval` and `pre_send_timeout`. Timers here are quiche's own
 * (its clock cannot be injected); the tests wait for events with generous caps and only assert
 * bounds that a slow machine cannot break (nothing closes *before* its timeout, and what a
 * timer must do eventually happens).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { OdinQuicClient } from '../../../client/quic/odinQuicClient.ts';
import { encodeVoicePacket } from '../../../server/protocol/voicePacket.ts';
import { needsNativeAddon } from '../../helpers/nativeAddon.ts';
import { startTestGrid, type TestGrid } from '../../helpers/testGrid.ts';
import { freeUdpPort, udpRelay, waitFor } from './helpers.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function gridWith(keys: string): Promise<{ grid: TestGrid; port: number }> {
  const port = await freeUdpPort();
  const grid = await startTestGrid({
    toml: `[quic]\nbinding = "127.0.0.1:${port}"\n${keys}\n`,
  });
  cleanups.push(() => grid.close());
  return { grid, port };
}

/** A native client through a relay, quiet on its own (no keep-alive, a long idle timeout). */
async function quietClient(port: number) {
  const relay = await udpRelay(port);
  cleanups.push(() => relay.close());
  const client = await OdinQuicClient.connect({
    host: '127.0.0.1',
    port: relay.port,
    insecure: true,
    keepAliveMs: 0,
    idleTimeoutMs: 120_000,
    requestTimeoutMs: 5_000,
  });
  cleanups.push(() => client.close().catch(() => {}));
  return { relay, client, h3Closed: () => client.quic!.h3.closed };
}

test(
  'migration = true (the default): a client whose address changes keeps its session',
  needsNativeAddon,
  async () => {
    const { grid, port } = await gridWith('migration = true');
    const { relay, client } = await quietClient(port);
    await client.joinRoom(await grid.token('moving', 'walker'), 'moving');
    assert.equal(await client.main.request('Ping', {}), null);
    const before = relay.toServer;
    await relay.rebind();
    // The next request leaves from a new address: quiche validates the path and answers there.
    assert.equal(await client.main.request('Ping', {}), null);
    assert.ok(relay.toServer > before);
    assert.equal(grid.quicListener!.stats.migrationRefused, 0);
    assert.equal(grid.sfu.clientCount, 1);
    // And the server now sends to the new address: a second rebind-free round trip still works.
    assert.equal(await client.main.request('Ping', {}), null);
  },
);

test(
  'idle_timeout: a connection silent that long is closed by both ends, not before',
  needsNativeAddon,
  async () => {
    const { grid, port } = await gridWith('idle_timeout = 1000\nkeep_alive_interval = 0');
    const { client, h3Closed } = await quietClient(port);
    await client.joinRoom(await grid.token('idle', 'sleeper'), 'idle');
    assert.equal(await client.main.request('Ping', {}), null);
    const quietSince = performance.now();
    // QUIC's max_idle_timeout is the smaller of both ends' (RFC 9000 section 10.1): the server's 1 s.
    await waitFor(() => h3Closed() && grid.sfu.clientCount === 0, 'both ends timed out');
    assert.ok(performance.now() - quietSince >= 1000 * 0.95, 'not closed before idle_timeout');
  },
);

test(
  'keep_alive_interval: the server PINGs a quiet client, so it outlives idle_timeout',
  needsNativeAddon,
  async () => {
    const { grid, port } = await gridWith('idle_timeout = 1000\nkeep_alive_interval = 200');
    const { relay, client, h3Closed } = await quietClient(port);
    await client.joinRoom(await grid.token('kept', 'sleeper'), 'kept');
    assert.equal(await client.main.request('Ping', {}), null);
    const quietSince = performance.now();
    const fromServer = relay.toClient;
    // The client sends nothing of its own; only the server's PINGs (and the client's ACKs) flow.
    // 12 PINGs 200 ms apart span more than two idle timeouts; without them the connection would
    // die after one and the count would stop growing.
    await waitFor(() => relay.toClient - fromServer >= 12 || h3Closed(), 'twelve keep-alive PINGs');
    assert.equal(h3Closed(), false, 'the connection stayed up');
    assert.ok(performance.now() - quietSince > 2000, 'the PINGs spanned two idle timeouts');
    assert.equal(await client.main.request('Ping', {}), null);
    assert.equal(grid.sfu.clientCount, 1);
  },
);

test(
  'pre_send_timeout: voice that waits for congestion control that long is dropped and counted',
  needsNativeAddon,
  async () => {
    const { grid, port } = await gridWith('pre_send_timeout = 200\nidle_timeout = 30000');
    const { relay, client: listener } = await quietClient(port);
    await listener.joinRoom(await grid.token('congested', 'listener'), 'congested');
    const talker = await OdinQuicClient.connect({ host: '127.0.0.1', port, insecure: true });
    cleanups.push(() => talker.close().catch(() => {}));
    const room = await talker.joinRoom(await grid.token('congested', 'talker'), 'congested');
    await room.startMedia();
    let heard = 0;
    listener.onVoice = () => heard++;
    const packet = (seq: number) =>
      encodeVoicePacket({ mediaIds: [room.mediaId], seq, ts: seq * 960, opus: randomBytes(600) });
    // Flowing: delivered, nothing expires.
    for (let seq = 0; seq < 5; seq++) talker.sendVoice(packet(seq));
    await waitFor(() => heard === 5, 'voice before the congestion');
    assert.equal(grid.quicListener!.stats.datagramsExpired, 0);
    // The listener's path goes dark: no ACKs reach the server, its congestion window fills and the
    // rest of the voice waits in quiche's queue until pre_send_timeout drops it.
    relay.blackhole = true;
    for (let burst = 0; burst < 10; burst++) {
      for (let i = 0; i < 20; i++) talker.sendVoice(packet(100 + burst * 20 + i));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await waitFor(() => grid.quicListener!.stats.datagramsExpired > 0, 'expired voice datagrams');
  },
);
