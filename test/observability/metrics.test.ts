import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { silentLogger } from '../../server/observability/log.ts';
import { GridMetrics } from '../../server/observability/metrics.ts';
import { allowListFrom, isAllowed, MetricsListener } from '../../server/observability/metricsListener.ts';
import { SystemUsageSampler } from '../../server/observability/metricsSystem.ts';
import { encodeVoicePacket } from '../../server/protocol/voicePacket.ts';
import { bytes, flush, Harness } from '../core/helpers.ts';
import { get, parseExposition, sampleValue } from './metricsHelpers.ts';

const listeners: MetricsListener[] = [];
after(async () => {
  for (const listener of listeners) await listener.close('test over');
});

async function serve(
  metrics: GridMetrics,
  options: { allowed?: string[]; ready?: () => boolean } = {},
): Promise<number> {
  const listener = new MetricsListener({
    config: { binding: '127.0.0.1:0', allowed: options.allowed ?? [] },
    metrics,
    ready: options.ready ?? (() => true),
    logger: silentLogger(),
  });
  await listener.open();
  listeners.push(listener);
  return listener.address!.port;
}

describe('metrics endpoint', () => {
  test('GET /metrics serves the SFU series with the global labels on every series', async () => {
    const h = new Harness();
    const system = new SystemUsageSampler({ intervalMs: 1000 });
    const metrics = new GridMetrics({
      config: { global_labels: { region: 'eu', pod: 'grid-0' } },
      sfu: h.sfu,
      system,
      load: () => 0.25,
    });
    const alice = h.join('alice');
    h.join('bob');
    const packet = encodeVoicePacket({ mediaIds: [alice.startMedia()], seq: 1, ts: 1800, opus: bytes('op') });
    h.sfu.handleVoice(alice.owner.client, packet);
    h.sfu.handleVoice(alice.owner.client, new Uint8Array([1, 2, 3]));
    alice.call('StopMedia', { media_id: 9999 });
    h.client().call('Teleport', {});
    const port = await serve(metrics);
    const response = await get(port, '/metrics');
    assert.equal(response.status, 200);
    assert.match(String(response.contentType), /^text\/plain; version=0\.0\.4/);
    const samples = parseExposition(response.body);
    for (const sample of samples) {
      assert.equal(sample.labels.region, 'eu', `${sample.name} lacks region`);
      assert.equal(sample.labels.pod, 'grid-0', `${sample.name} lacks pod`);
    }
    assert.equal(sampleValue(samples, 'grid_clients'), 2);
    assert.equal(sampleValue(samples, 'grid_unauthenticated_clients'), 1, 'the Teleport client');
    assert.equal(sampleValue(samples, 'grid_peers'), 2);
    assert.equal(sampleValue(samples, 'grid_rooms'), 1);
    assert.equal(sampleValue(samples, 'grid_medias'), 1);
    assert.equal(sampleValue(samples, 'grid_load'), 0.25);
    assert.equal(sampleValue(samples, 'grid_voice_packets_total', { direction: 'in' }), 2);
    assert.equal(sampleValue(samples, 'grid_voice_packets_total', { direction: 'out' }), 1);
    assert.equal(sampleValue(samples, 'grid_voice_bytes_total', { direction: 'out' }), packet.length);
    assert.equal(sampleValue(samples, 'grid_voice_dropped_packets_total', { reason: 'malformed' }), 1);
    assert.equal(sampleValue(samples, 'grid_rpc_calls_total', { method: 'JoinRoom' }), 2);
    assert.equal(
      sampleValue(samples, 'grid_rpc_errors_total', { method: 'StopMedia', code: 'bad_media' }),
      1,
    );
    assert.equal(
      sampleValue(samples, 'grid_rpc_errors_total', { method: 'unknown', code: 'bad_request' }),
      1,
    );
    assert.equal(sampleValue(samples, 'grid_rpc_duration_seconds_count', { method: 'StartMedia' }), 1);
    assert.ok(sampleValue(samples, 'grid_memory_rss_bytes')! > 0);
    assert.ok(
      sampleValue(samples, 'process_cpu_user_seconds_total') !== undefined,
      'default process metrics',
    );
    metrics.dispose();
  });

  test('auth failures, refusals, connection durations, supervisor and telemetry outcomes are exported', async () => {
    const h = new Harness({
      authenticate: async () => {
        throw Object.assign(new Error('expired'), { code: 'expired' });
      },
    });
    const metrics = new GridMetrics({ config: { global_labels: {} }, sfu: h.sfu, defaultMetrics: false });
    const c = h.client();
    c.call('Authenticate', { token: 'x' });
    await flush();
    h.sfu.disconnect(c.client, 'bye');
    // Connection durations are of clients that authenticated.
    const d = h.client({ userId: 'dora', roomIds: ['r'], namespace: '' });
    h.sfu.disconnect(d.client, 'bye');
    h.sfu.setDraining(true);
    assert.throws(() => h.join('late'));
    metrics.watchSupervisor({ successes: 4, failures: 1 });
    metrics.watchTelemetry({ successes: 2, failures: 0 });
    const samples = parseExposition((await metrics.scrape()).text);
    assert.equal(sampleValue(samples, 'grid_auth_failures_total', { reason: 'expired' }), 1);
    assert.equal(sampleValue(samples, 'grid_joins_refused_total', { code: 'draining' }), 1);
    assert.equal(sampleValue(samples, 'grid_client_connection_duration_seconds_count'), 1);
    assert.equal(sampleValue(samples, 'grid_supervisor_reports_total', { result: 'success' }), 4);
    assert.equal(sampleValue(samples, 'grid_supervisor_reports_total', { result: 'failure' }), 1);
    assert.equal(sampleValue(samples, 'grid_telemetry_sends_total', { result: 'success' }), 2);
    assert.equal(sampleValue(samples, 'grid_draining'), 1);
    assert.equal(sampleValue(samples, 'process_cpu_user_seconds_total'), undefined);
    metrics.dispose();
  });

  test('a labelled series not updated for idle_timeout is dropped, and comes back when it changes', async () => {
    const h = new Harness();
    let now = 0;
    const metrics = new GridMetrics({
      config: { global_labels: {}, idle_timeout: 60_000 },
      sfu: h.sfu,
      now: () => now,
      defaultMetrics: false,
    });
    const alice = h.join('alice');
    const scrape = async () => parseExposition((await metrics.scrape()).text);
    assert.equal(sampleValue(await scrape(), 'grid_rpc_calls_total', { method: 'JoinRoom' }), 1);
    now = 59_000;
    assert.equal(sampleValue(await scrape(), 'grid_rpc_duration_seconds_count', { method: 'JoinRoom' }), 1);
    now = 61_000;
    let samples = await scrape();
    assert.equal(sampleValue(samples, 'grid_rpc_calls_total', { method: 'JoinRoom' }), undefined);
    assert.equal(sampleValue(samples, 'grid_rpc_duration_seconds_count', { method: 'JoinRoom' }), undefined);
    assert.equal(sampleValue(samples, 'grid_peers'), 1, 'unlabelled gauges stay');
    h.join('bob');
    alice.call('SetPeerPosition', { position: [0.1, 0] });
    samples = await scrape();
    assert.equal(sampleValue(samples, 'grid_rpc_calls_total', { method: 'JoinRoom' }), 2);
    // A dropped histogram starts again as a new series (Prometheus reads it as a counter reset).
    assert.equal(sampleValue(samples, 'grid_rpc_duration_seconds_count', { method: 'JoinRoom' }), 1);
    metrics.dispose();
  });

  test('/healthz is 200 while alive; /readyz follows readiness (503 while not ready)', async () => {
    let ready = false;
    const port = await serve(new GridMetrics({ config: { global_labels: {} }, defaultMetrics: false }), {
      ready: () => ready,
    });
    assert.equal((await get(port, '/healthz')).status, 200);
    assert.equal((await get(port, '/readyz')).status, 503);
    ready = true;
    assert.equal((await get(port, '/readyz')).status, 200);
    assert.equal((await get(port, '/nope')).status, 404);
  });

  test('an address outside [metrics] allowed gets 403 (a real request from 127.0.0.2)', async () => {
    const metrics = new GridMetrics({ config: { global_labels: {} }, defaultMetrics: false });
    const port = await serve(metrics, { allowed: ['127.0.0.1/32', 'fd00::/8'] });
    assert.equal((await get(port, '/metrics')).status, 200);
    const refused = await get(port, '/metrics', { localAddress: '127.0.0.2' });
    assert.equal(refused.status, 403);
    assert.match(refused.body, /not in \[metrics\] allowed/);
    assert.equal((await get(port, '/healthz', { localAddress: '127.0.0.2' })).status, 403);
  });

  test('allow lists take IPv4 and IPv6 addresses and CIDR blocks, IPv4-mapped IPv6 included', () => {
    const list = allowListFrom(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1']);
    assert.equal(isAllowed(list, '10.1.2.3'), true);
    assert.equal(isAllowed(list, '::ffff:10.1.2.3'), true);
    assert.equal(isAllowed(list, '192.168.1.7'), true);
    assert.equal(isAllowed(list, '192.168.1.8'), false);
    assert.equal(isAllowed(list, 'fd12:3456::1'), true);
    assert.equal(isAllowed(list, '::1'), true);
    assert.equal(isAllowed(list, '2001:db8::1'), false);
    assert.equal(isAllowed(list, undefined), false);
    assert.equal(isAllowed(allowListFrom([]), '203.0.113.9'), true, 'empty: everyone');
  });
});
