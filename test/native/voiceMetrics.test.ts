/**
 * Metrics of the voice the native addon forwards by its table (native/quic/src/forward.rs), on
 * a real grid with `[quic] engine = "native"`, the real Node client and a real /metrics scrape:
 * packets the JavaScript router never sees still count in grid_voice_* as the packets it
 * forwards do, and the table's own counters (lookups, sends, drops by reason) are exported.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OdinQuicClient, type OdinRoom } from '../../client/quic/odinQuicClient.ts';
import { MetricsListener } from '../../server/observability/metricsListener.ts';
import { needsNativeAddon } from '../helpers/nativeAddon.ts';
import { eventually, startTestGrid, type TestGrid } from '../helpers/testGrid.ts';
import { VoiceInbox, voicePackets } from '../helpers/voice.ts';
import { get, parseExposition, type Sample, sampleValue } from '../observability/metricsHelpers.ts';
import { freeUdpPort } from '../transports/quic/helpers.ts';

type Native = { client: OdinQuicClient; room: OdinRoom; packets: Uint8Array[] };

/** The bucket of each media: 20 at once, then 1 a second. */
const CAPACITY = 20;

describe('metrics of voice forwarded inside the native addon', needsNativeAddon, () => {
  let grid: TestGrid;
  let port: number;
  let metricsPort: number;
  const clients: OdinQuicClient[] = [];
  let rooms = 0;

  async function native(user: string, room: string): Promise<Native> {
    const client = await OdinQuicClient.connect({ host: '127.0.0.1', port, insecure: true });
    clients.push(client);
    const packets: Uint8Array[] = [];
    client.onVoice = (bytes) => packets.push(Uint8Array.from(bytes));
    const joined = await client.joinRoom(await grid.token(room, user), room, { position: [0, 0] });
    return { client, room: joined, packets };
  }
  async function pair(): Promise<[Native, Native]> {
    const room = `metrics-${++rooms}`;
    return [await native('alice', room), await native('bob', room)];
  }
  const got = (peer: Native, count: number) =>
    eventually(() => peer.packets.length >= count, `${count} voice datagrams (have ${peer.packets.length})`);

  async function scrape(): Promise<Sample[]> {
    const response = await get(metricsPort, '/metrics');
    assert.equal(response.status, 200);
    return parseExposition(response.body);
  }
  /** The change of each named sample between two scrapes (absent = 0). */
  function delta(
    before: Sample[],
    after: Sample[],
    name: string,
    labels: Record<string, string> = {},
  ): number {
    return (sampleValue(after, name, labels) ?? 0) - (sampleValue(before, name, labels) ?? 0);
  }
  const quic = { transport: 'quic' };

  before(async () => {
    port = await freeUdpPort();
    grid = await startTestGrid({
      toml:
        `[quic]\nengine = "native"\nbinding = "127.0.0.1:${port}"\n[metrics]\nbinding = "127.0.0.1:0"\n` +
        `[limit.network]\nincoming_media_packets = { rate = 1, capacity = ${CAPACITY} }\n`,
    });
    const listener = grid.listeners.find((l) => l instanceof MetricsListener);
    assert.ok(listener?.address, 'the [metrics] listener');
    metricsPort = listener.address.port;
  });
  after(async () => {
    for (const client of clients) await client.close().catch(() => {});
    await grid.close();
  });

  test('packets forwarded by the table count in grid_voice_* and the table’s own counters', async () => {
    const [alice, bob] = await pair();
    await alice.room.startMedia();
    await bob.room.startMedia();
    const routerBefore = grid.sfu.voiceStats.received;
    const before = await scrape();

    const fromAlice = voicePackets(alice.room.mediaId, 10);
    for (const packet of fromAlice) assert.ok(alice.client.sendVoice(packet));
    const fromBob = voicePackets(bob.room.mediaId, 10);
    for (const packet of fromBob) assert.ok(bob.client.sendVoice(packet));
    await got(bob, 10);
    await got(alice, 10);
    assert.equal(grid.sfu.voiceStats.received, routerBefore, 'no packet entered the JavaScript router');

    const after = await scrape();
    const bytes = [...fromAlice, ...fromBob].reduce((sum, packet) => sum + packet.length, 0);
    assert.equal(delta(before, after, 'grid_voice_packets_total', { direction: 'in' }), 20);
    assert.equal(delta(before, after, 'grid_voice_packets_total', { direction: 'out' }), 20);
    assert.equal(delta(before, after, 'grid_voice_bytes_total', { direction: 'in' }), bytes);
    assert.equal(delta(before, after, 'grid_voice_bytes_total', { direction: 'out' }), bytes);
    assert.equal(delta(before, after, 'grid_native_voice_packets_forwarded_total', quic), 20);
    assert.equal(
      delta(before, after, 'grid_native_voice_table_packets_total', { ...quic, result: 'hit' }),
      20,
    );
    assert.equal(delta(before, after, 'grid_native_voice_table_forwarded_total', quic), 20);
    assert.ok((sampleValue(after, 'grid_native_voice_table_routes', quic) ?? 0) >= 2, 'two routes');
  });

  test('with a web peer too, each packet counts once (JavaScript counts what crosses into it)', async () => {
    const [alice, bob] = await pair();
    const room = `metrics-${rooms}`;
    const web = await grid.connect('carol', room, { voice: true, localAddress: '127.0.0.1' });
    const webInbox = new VoiceInbox(web);
    await web.joinRoom(room, { position: [0, 0] });
    await eventually(() => grid.sfu.getRoom('', room)?.peers.size === 3, 'three peers');
    await alice.room.startMedia();
    const before = await scrape();
    for (const packet of voicePackets(alice.room.mediaId, 10)) assert.ok(alice.client.sendVoice(packet));
    await webInbox.waitFor(10);
    await got(bob, 10);
    const after = await scrape();
    assert.equal(delta(before, after, 'grid_voice_packets_total', { direction: 'in' }), 10);
    assert.equal(delta(before, after, 'grid_voice_packets_total', { direction: 'out' }), 20, 'bob and carol');
    assert.equal(delta(before, after, 'grid_native_voice_packets_forwarded_total', quic), 10, 'bob');
    assert.equal(
      delta(before, after, 'grid_native_voice_table_forwarded_total', quic),
      10,
      'bob, by the table',
    );
  });

  test('malformed packets count as malformed (they take the JavaScript path)', async () => {
    const [alice, bob] = await pair();
    await alice.room.startMedia();
    const malformedBefore = grid.sfu.voiceStats.malformed;
    const before = await scrape();
    // A lone 0xff: not a voice packet header (server/protocol/voicePacket.ts).
    for (let i = 0; i < 3; i++) assert.ok(alice.client.sendVoice(Uint8Array.of(0xff)));
    await eventually(() => grid.sfu.voiceStats.malformed - malformedBefore >= 3, 'three malformed packets');
    const after = await scrape();
    assert.equal(delta(before, after, 'grid_voice_dropped_packets_total', { reason: 'malformed' }), 3);
    assert.equal(delta(before, after, 'grid_voice_packets_total', { direction: 'in' }), 3);
    assert.equal(
      delta(before, after, 'grid_native_voice_table_packets_total', { ...quic, result: 'malformed' }),
      3,
    );
    assert.equal(bob.packets.length, 0, 'nothing reached bob');
  });

  test('packets over incoming_media_packets are dropped by the table and counted as rate_limited', async () => {
    const [alice, bob] = await pair();
    await alice.room.startMedia();
    const routerBefore = grid.sfu.voiceStats.received;
    const hits = () => grid.quicListener!.stats.nativeVoiceReceived ?? 0;
    const hitsBefore = hits();
    const before = await scrape();

    const sent = 60;
    for (const packet of voicePackets(alice.room.mediaId, sent)) assert.ok(alice.client.sendVoice(packet));
    await eventually(() => hits() - hitsBefore === sent, `the table saw all ${sent} packets`);
    const after = await scrape();
    const forwarded = delta(before, after, 'grid_native_voice_table_forwarded_total', quic);
    const limited = delta(before, after, 'grid_native_voice_table_dropped_total', {
      ...quic,
      reason: 'rate_limited',
    });
    // The bucket holds CAPACITY and refills 1 a second: most of a burst of 60 is over it.
    assert.ok(forwarded >= CAPACITY, `the first ${CAPACITY} pass (${forwarded})`);
    assert.ok(limited > 0, 'some are over the bucket');
    assert.equal(forwarded + limited, sent, 'each packet forwarded or limited');
    assert.equal(
      delta(before, after, 'grid_voice_dropped_packets_total', { reason: 'rate_limited' }),
      limited,
    );
    assert.equal(delta(before, after, 'grid_voice_packets_total', { direction: 'in' }), sent);
    assert.equal(delta(before, after, 'grid_voice_packets_total', { direction: 'out' }), forwarded);
    assert.equal(
      grid.sfu.voiceStats.received,
      routerBefore,
      'the table, not the JavaScript router, limited them',
    );
    await got(bob, forwarded);
    assert.equal(bob.packets.length, forwarded, 'bob got exactly the packets within the bucket');
  });
});
