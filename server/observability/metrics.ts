/**
 * The Prometheus series of `grid` (prom-client), listed in docs/operations.md.
 *
 * Off the hot path: the core counts in plain numeric fields (`sfu.counters`, `sfu.voiceStats`)
 * and this module reads them when Prometheus scrapes (`collect`). Only events that are not on
 * the voice path are observed as they happen, from the core's `observer` emitter: RPC
 * completions (latency histogram) and client connect/close (connection durations).
 *
 * `[metrics] idle_timeout`: a labelled series whose value has not changed for that long is left
 * out of the output until it changes again (e.g. the RPC latency of a method nobody calls any
 * more). `global_labels` go on every series, the default process metrics included.
 */
import { performance } from 'node:perf_hooks';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { MetricsConfig } from '../config/index.ts';
import type { Client } from '../core/client.ts';
import type { RpcErrorCode } from '../core/errors.ts';
import type { Sfu } from '../core/sfu.ts';
import { isMethodName, type MethodName } from '../protocol/methods.ts';
import type { CertificateReloadStats } from '../tls/certificateReloader.ts';
import type { SystemUsageSampler } from './metricsSystem.ts';

/**
 * What the web transport counts about WebRTC (transports/web/webListener.ts `webRtcStats`, the
 * same shape): read at scrape time.
 */
export type WebRtcMetricsSource = () => {
  peers: { udp: number; tcp: number };
  voice: { receivedUdp: number; receivedTcp: number; forwardedUdp: number; forwardedTcp: number };
  iceTcpClosed: Readonly<Record<string, number>>;
  iceTcpConnections: { open: number; unauthenticated: number };
};

/**
 * What a native transport (QUIC, WebTransport over HTTP/2) reports per scrape; undefined when it
 * is not configured. `closed`: connections or sessions the transport closed on bad input or a
 * limit, by reason (HTTP/2 only; QUIC's are in its own stats).
 */
export type NativeTransportStats =
  | {
      peers: number;
      voiceForwarded: number;
      closed?: Readonly<Record<string, number>>;
      /** The native QUIC engine's forwarding table (server/transports/quic/nativeEndpoint.ts). */
      table?: VoiceTableStats;
    }
  | undefined;

/**
 * Counters of a forwarding table that routes voice outside the core (the native QUIC addon):
 * `lookups` by result, its sends and drops, and `alone`, the packets the core's VoiceRouter
 * never saw, which metrics add to grid_voice_* so they count the same on every engine.
 */
export type VoiceTableStats = {
  lookups: Readonly<Record<string, number>>;
  forwarded: number;
  rateLimited: number;
  sendQueueFull: number;
  routes: number;
  alone: {
    received: number;
    receivedBytes: number;
    forwarded: number;
    forwardedBytes: number;
    sendQueueFull: number;
  };
};

/** Plain success/failure counts a component keeps for metrics (supervisor reports, telemetry sends). */
export type OutcomeCounts = { successes: number; failures: number };

export type GridMetricsParams = {
  config: Pick<MetricsConfig, 'global_labels' | 'idle_timeout'>;
  sfu?: Sfu;
  system?: SystemUsageSampler;
  /** The current `load` (server/supervisor/load.ts). */
  load?: () => number;
  /** Web voice dropped after queueing for longer than ODIN's 100 ms (the web transport counts it). */
  webVoiceTooLate?: () => number;
  /** What `/readyz` reports. */
  ready?: () => boolean;
  /** Milliseconds, for `idle_timeout`; injectable for tests. Default: performance.now. */
  now?: () => number;
  /** Node process metrics (prom-client defaults). Default true. */
  defaultMetrics?: boolean;
};

type Labels = Record<string, string>;

/** RPC latency buckets, seconds: most calls answer in well under a millisecond, joins wait for token checks. */
const RPC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Connection durations, seconds: from a failed join (under a second) to a long game session. */
const CONNECTION_BUCKETS = [1, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 43200];

/** Remembers when each labelled series last changed, to leave idle ones out. */
class IdleSeries {
  readonly #idleMs: number | undefined;
  readonly #now: () => number;
  readonly #seen = new Map<string, { value: number; at: number }>();

  constructor(idleMs: number | undefined, now: () => number) {
    this.#idleMs = idleMs;
    this.#now = now;
  }

  /** Whether the series `key` with this value belongs in the output. */
  fresh(key: string, value: number): boolean {
    if (this.#idleMs === undefined) return true;
    const now = this.#now();
    const seen = this.#seen.get(key);
    if (seen === undefined || seen.value !== value) {
      this.#seen.set(key, { value, at: now });
      return true;
    }
    return now - seen.at < this.#idleMs;
  }

  /** Marks a series as updated now (for series observed as events happen). */
  touch(key: string): void {
    this.#seen.set(key, { value: Number.NaN, at: this.#now() });
  }

  /** Whether a touched series has gone idle. */
  idle(key: string): boolean {
    if (this.#idleMs === undefined) return false;
    const seen = this.#seen.get(key);
    return seen !== undefined && this.#now() - seen.at >= this.#idleMs;
  }
}

export class GridMetrics {
  readonly registry = new Registry();
  readonly #params: GridMetricsParams;
  readonly #idle: IdleSeries;
  readonly #now: () => number;
  readonly #rpcCalls = new Map<MethodName, number>();
  readonly #rpcErrors = new Map<string, { method: string; code: RpcErrorCode; count: number }>();
  readonly #connectedAt = new WeakMap<Client, number>();
  readonly #rpcDuration: Histogram<'method'>;
  readonly #connectionDuration: Histogram;
  #supervisor: OutcomeCounts | undefined;
  #certificates: Record<string, () => CertificateReloadStats | undefined> = {};
  #telemetry: OutcomeCounts | undefined;
  #webRtc: WebRtcMetricsSource | undefined;
  #native: Record<'quic' | 'http2', () => NativeTransportStats> = {
    quic: () => undefined,
    http2: () => undefined,
  };
  readonly #unsubscribe: (() => void)[] = [];

  constructor(params: GridMetricsParams) {
    this.#params = params;
    this.#now = params.now ?? (() => performance.now());
    this.#idle = new IdleSeries(params.config.idle_timeout, this.#now);
    this.registry.setDefaultLabels({ ...params.config.global_labels });
    if (params.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.#rpcDuration = new Histogram({
      name: 'grid_rpc_duration_seconds',
      help: 'Time from a validated RPC call to its answer, by method.',
      labelNames: ['method'],
      buckets: RPC_BUCKETS,
      registers: [this.registry],
      collect: () => {
        for (const method of this.#rpcCalls.keys()) {
          if (this.#idle.idle(`rpc_duration ${method}`)) this.#rpcDuration.remove({ method });
        }
      },
    });
    this.#connectionDuration = new Histogram({
      name: 'grid_client_connection_duration_seconds',
      help: 'How long client connections lasted, observed when they close.',
      buckets: CONNECTION_BUCKETS,
      registers: [this.registry],
    });
    this.#defineGauges();
    this.#defineCounters();
    if (params.sfu !== undefined) this.#observe(params.sfu);
  }

  /** Reads the supervisor's report counts on each scrape. */
  watchSupervisor(counts: OutcomeCounts): void {
    this.#supervisor = counts;
  }

  /** Reads the web transport's WebRTC counts (by transport, ICE-TCP closures) on each scrape. */
  watchWebRtc(read: WebRtcMetricsSource): void {
    this.#webRtc = read;
  }

  /** Reads telemetry's send counts on each scrape. */
  watchTelemetry(counts: OutcomeCounts): void {
    this.#telemetry = counts;
  }

  /** Reads each TLS listener's certificate reloads on each scrape (`http`, `quic`). */
  watchCertificates(listeners: Record<string, () => CertificateReloadStats | undefined>): void {
    this.#certificates = listeners;
  }

  /** Reads the native transports' peers and forwarded voice on each scrape (label `transport`). */
  watchNativeTransports(transports: Record<'quic' | 'http2', () => NativeTransportStats>): void {
    this.#native = transports;
  }

  /** The native transports that are configured, with their numbers now. */
  *#nativeStats(): Iterable<['quic' | 'http2', NonNullable<NativeTransportStats>]> {
    for (const transport of ['quic', 'http2'] as const) {
      const stats = this.#native[transport]();
      if (stats !== undefined) yield [transport, stats];
    }
  }

  /** The forwarding tables' packets the core never saw, summed over the native transports. */
  #tableAlone(): VoiceTableStats['alone'] {
    const sum = { received: 0, receivedBytes: 0, forwarded: 0, forwardedBytes: 0, sendQueueFull: 0 };
    for (const [, stats] of this.#nativeStats()) {
      const alone = stats.table?.alone;
      if (alone === undefined) continue;
      sum.received += alone.received;
      sum.receivedBytes += alone.receivedBytes;
      sum.forwarded += alone.forwarded;
      sum.forwardedBytes += alone.forwardedBytes;
      sum.sendQueueFull += alone.sendQueueFull;
    }
    return sum;
  }

  /** Rate-limited packets of the forwarding tables (never seen by the core), summed. */
  #tableRateLimited(): number {
    let n = 0;
    for (const [, stats] of this.#nativeStats()) n += stats.table?.rateLimited ?? 0;
    return n;
  }

  /** The native transports that have a forwarding table, with it. */
  *#tables(): Iterable<['quic' | 'http2', VoiceTableStats]> {
    for (const [transport, stats] of this.#nativeStats())
      if (stats.table !== undefined) yield [transport, stats.table];
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  /** Stops listening to the core. */
  dispose(): void {
    for (const off of this.#unsubscribe.splice(0)) off();
  }

  #observe(sfu: Sfu): void {
    const onRpc = (method: MethodName, durationMs: number, _code: RpcErrorCode | undefined) => {
      this.#rpcCalls.set(method, (this.#rpcCalls.get(method) ?? 0) + 1);
      this.#rpcDuration.observe({ method }, durationMs / 1000);
      this.#idle.touch(`rpc_duration ${method}`);
    };
    const onRejected = (method: string, code: RpcErrorCode) => {
      // Clients choose method names: only known ones become label values.
      const label = isMethodName(method) ? method : 'unknown';
      const key = `${label} ${code}`;
      const entry = this.#rpcErrors.get(key);
      if (entry === undefined) this.#rpcErrors.set(key, { method: label, code, count: 1 });
      else entry.count++;
    };
    const onConnected = (client: Client) => this.#connectedAt.set(client, this.#now());
    const onClosed = (client: Client) => {
      const at = this.#connectedAt.get(client);
      if (at !== undefined) this.#connectionDuration.observe((this.#now() - at) / 1000);
    };
    sfu.observer.on('rpccompleted', onRpc);
    sfu.observer.on('rpcrejected', onRejected);
    sfu.observer.on('clientconnected', onConnected);
    sfu.observer.on('clientclosed', onClosed);
    this.#unsubscribe.push(() => {
      sfu.observer.off('rpccompleted', onRpc);
      sfu.observer.off('rpcrejected', onRejected);
      sfu.observer.off('clientconnected', onConnected);
      sfu.observer.off('clientclosed', onClosed);
    });
  }

  #gauge(name: string, help: string, read: () => number | undefined): void {
    const gauge: Gauge = new Gauge({
      name,
      help,
      registers: [this.registry],
      collect: () => {
        const value = read();
        if (value === undefined) gauge.reset();
        else gauge.set(value);
      },
    });
  }

  #defineGauges(): void {
    const { sfu, system, load, ready } = this.#params;
    if (sfu !== undefined) {
      this.#gauge('grid_clients', 'Connected clients that have authenticated.', () => sfu.clientCount);
      this.#gauge(
        'grid_unauthenticated_clients',
        'Main connections waiting to authenticate ([limit] max_unauthenticated).',
        () => sfu.unauthenticatedCount,
      );
      this.#gauge('grid_peers', 'Peers in rooms.', () => sfu.peerCount);
      this.#gauge('grid_rooms', 'Open rooms.', () => {
        let rooms = 0;
        for (const _ of sfu.rooms()) rooms++;
        return rooms;
      });
      this.#gauge('grid_medias', 'Started medias (outgoing voice streams) over all rooms.', () => {
        let medias = 0;
        for (const room of sfu.rooms()) medias += room.mediaById.size;
        return medias;
      });
      this.#gauge('grid_draining', '1 while the server drains (joins refused).', () =>
        sfu.draining ? 1 : 0,
      );
    }
    const nativePeers: Gauge<'transport'> = new Gauge({
      name: 'grid_native_peers',
      help: 'Peers of native clients in rooms, by transport (quic: WebTransport over HTTP/3; http2: WebTransport over HTTP/2 on the [http] port, for networks that block UDP).',
      labelNames: ['transport'],
      registers: [this.registry],
      collect: () => {
        nativePeers.reset();
        for (const [transport, stats] of this.#nativeStats()) nativePeers.set({ transport }, stats.peers);
      },
    });
    if (load !== undefined) this.#gauge('grid_load', 'Load as reported to the supervisor, 0..1.', load);
    if (ready !== undefined)
      this.#gauge('grid_ready', '1 when /readyz answers 200.', () => (ready() ? 1 : 0));
    if (system !== undefined) {
      this.#gauge(
        'grid_event_loop_utilization_ratio',
        'Main thread event loop utilisation, 0..1, over the last system_update_interval (the CPU part of load).',
        () => system.usage.cpu,
      );
      this.#gauge(
        'grid_process_cpu_ratio',
        'Process CPU time over wall time and cores, 0..1, over the last system_update_interval.',
        () => system.usage.processCpu,
      );
      this.#gauge(
        'grid_memory_rss_bytes',
        'Resident memory, sampled every system_update_interval.',
        () => system.usage.rssBytes,
      );
      this.#gauge(
        'grid_memory_heap_used_bytes',
        'V8 heap in use, sampled every system_update_interval.',
        () => system.usage.heapUsedBytes,
      );
    }
  }

  /** A counter whose labelled values are read from plain fields on each scrape. */
  #counter<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    read: () => Iterable<[Record<L, string>, number]>,
  ): void {
    const counter: Counter<L> = new Counter<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect: () => {
        counter.reset();
        for (const [labels, value] of read()) {
          const key = `${name} ${JSON.stringify(labels)}`;
          if (labelNames.length === 0 || this.#idle.fresh(key, value)) {
            counter.inc(labels as Labels as Partial<Record<L, string>>, value);
          }
        }
      },
    });
  }

  /** Web (WebRTC) series by transport: `udp` or `tcp` (ICE-TCP), and ICE-TCP's own. */
  #defineWebRtc(): void {
    const read = () => this.#webRtc?.();
    const peers: Gauge<'transport'> = new Gauge({
      name: 'grid_web_peers',
      help: 'WebRTC sessions with an open voice channel, by the transport their DTLS travels over (udp, tcp).',
      labelNames: ['transport'],
      registers: [this.registry],
      collect: () => {
        peers.reset();
        const stats = read();
        if (stats === undefined) return;
        peers.set({ transport: 'udp' }, stats.peers.udp);
        peers.set({ transport: 'tcp' }, stats.peers.tcp);
      },
    });
    this.#counter(
      'grid_web_voice_packets_total',
      'Voice packets on WebRTC data channels, received from (in) and forwarded to (out) web clients, by transport.',
      ['direction', 'transport'],
      () => {
        const voice = read()?.voice;
        if (voice === undefined) return [];
        return [
          [{ direction: 'in', transport: 'udp' }, voice.receivedUdp],
          [{ direction: 'in', transport: 'tcp' }, voice.receivedTcp],
          [{ direction: 'out', transport: 'udp' }, voice.forwardedUdp],
          [{ direction: 'out', transport: 'tcp' }, voice.forwardedTcp],
        ];
      },
    );
    this.#counter(
      'grid_web_ice_tcp_closed_total',
      'ICE-TCP connections closed, by reason (docs/security.md "ICE-TCP").',
      ['reason'],
      () =>
        Object.entries(read()?.iceTcpClosed ?? {}).map(([reason, n]): [{ reason: string }, number] => [
          { reason },
          n,
        ]),
    );
    const connections: Gauge<'state'> = new Gauge({
      name: 'grid_web_ice_tcp_connections',
      help: 'Open ICE-TCP connections, by state (unauthenticated: within the pre-authentication budget).',
      labelNames: ['state'],
      registers: [this.registry],
      collect: () => {
        connections.reset();
        const stats = read();
        if (stats === undefined) return;
        const { open, unauthenticated } = stats.iceTcpConnections;
        connections.set({ state: 'unauthenticated' }, unauthenticated);
        connections.set({ state: 'authenticated' }, open - unauthenticated);
      },
    });
  }

  #defineCounters(): void {
    const { sfu, webVoiceTooLate } = this.#params;
    this.#counter(
      'grid_native_voice_packets_forwarded_total',
      'Voice packets sent to native clients, by transport (quic | http2); part of grid_voice_packets_total{direction="out"}.',
      ['transport'],
      () => [...this.#nativeStats()].map(([transport, stats]) => [{ transport }, stats.voiceForwarded]),
    );
    this.#counter(
      'grid_native_voice_table_packets_total',
      "Voice datagrams of native QUIC senders looked up in the addon's forwarding table, by result (hit: routed by the table; no_session, malformed, several_medias, no_route: misses, which take the JavaScript path).",
      ['transport', 'result'],
      () => {
        const rows: [{ transport: string; result: string }, number][] = [];
        for (const [transport, table] of this.#tables()) {
          for (const [result, n] of Object.entries(table.lookups)) rows.push([{ transport, result }, n]);
        }
        return rows;
      },
    );
    this.#counter(
      'grid_native_voice_table_forwarded_total',
      "Voice datagrams the addon's forwarding table sent to native receivers (one per receiver).",
      ['transport'],
      () => [...this.#tables()].map(([transport, table]) => [{ transport }, table.forwarded]),
    );
    this.#counter(
      'grid_native_voice_table_dropped_total',
      "Voice datagrams the addon's forwarding table dropped, by reason (rate_limited: over incoming_media_packets; send_queue_full: per receiver, its queue full or gone).",
      ['transport', 'reason'],
      () => {
        const rows: [{ transport: string; reason: string }, number][] = [];
        for (const [transport, table] of this.#tables()) {
          rows.push([{ transport, reason: 'rate_limited' }, table.rateLimited]);
          rows.push([{ transport, reason: 'send_queue_full' }, table.sendQueueFull]);
        }
        return rows;
      },
    );
    const routes: Gauge<'transport'> = new Gauge({
      name: 'grid_native_voice_table_routes',
      help: "Entries (sender, media) of the addon's forwarding table.",
      labelNames: ['transport'],
      registers: [this.registry],
      collect: () => {
        routes.reset();
        for (const [transport, table] of this.#tables()) routes.set({ transport }, table.routes);
      },
    });
    this.#counter(
      'grid_native_http2_closed_total',
      'WebTransport over HTTP/2 connections and sessions closed on bad input or a limit, by reason (docs/security.md).',
      ['reason'],
      () =>
        Object.entries(this.#native.http2()?.closed ?? {}).map(
          ([reason, n]): [{ reason: string }, number] => [{ reason }, n],
        ),
    );
    if (sfu !== undefined) {
      const voice = sfu.voiceStats;
      const counters = sfu.counters;
      this.#counter(
        'grid_voice_packets_total',
        'Voice packets received from clients (in) and forwarded to them (out).',
        ['direction'],
        () => {
          const alone = this.#tableAlone();
          return [
            [{ direction: 'in' }, voice.received + alone.received],
            [{ direction: 'out' }, voice.forwarded + alone.forwarded],
          ];
        },
      );
      this.#counter(
        'grid_voice_bytes_total',
        'Bytes of voice packets received (in) and forwarded (out).',
        ['direction'],
        () => {
          const alone = this.#tableAlone();
          return [
            [{ direction: 'in' }, voice.received_bytes + alone.receivedBytes],
            [{ direction: 'out' }, voice.forwarded_bytes + alone.forwardedBytes],
          ];
        },
      );
      this.#counter(
        'grid_voice_dropped_packets_total',
        'Voice packets dropped, by reason (send_queue_full and too_late count once per receiver).',
        ['reason'],
        () => [
          [{ reason: 'too_late' }, webVoiceTooLate?.() ?? 0],
          [{ reason: 'malformed' }, voice.malformed],
          [{ reason: 'unknown_media' }, voice.unknown_media],
          [{ reason: 'rate_limited' }, voice.rate_limited + this.#tableRateLimited()],
          [{ reason: 'send_queue_full' }, voice.send_queue_full + this.#tableAlone().sendQueueFull],
        ],
      );
      this.#counter('grid_rpc_calls_total', 'Validated RPC calls executed, by method.', ['method'], () =>
        [...this.#rpcCalls].map(([method, n]): [{ method: string }, number] => [{ method }, n]),
      );
      this.#counter(
        'grid_rpc_errors_total',
        'RPC calls answered with an error, by method (unknown for unknown names) and error code.',
        ['method', 'code'],
        () =>
          [...this.#rpcErrors.values()].map(
            ({ method, code, count }): [{ method: string; code: string }, number] => [
              { method, code },
              count,
            ],
          ),
      );
      this.#counter(
        'grid_auth_failures_total',
        'Tokens refused, by reason (auth error code).',
        ['reason'],
        () =>
          Object.entries(counters.auth_failures).map(([reason, n]): [{ reason: string }, number] => [
            { reason },
            n,
          ]),
      );
      this.#counter('grid_joins_refused_total', 'Joins and clients refused, by error code.', ['code'], () =>
        Object.entries(counters.refused).map(([code, n]): [{ code: string }, number] => [{ code }, n]),
      );
      this.#counter(
        'grid_rpc_queued_total',
        'RPC calls that waited in the rate-limit overflow queue.',
        [],
        () => [[{}, counters.rpc_queued]],
      );
      this.#counter(
        'grid_rpc_overflow_disconnects_total',
        'Clients disconnected because their rate-limit overflow queue was full.',
        [],
        () => [[{}, counters.rpc_overflow_disconnects]],
      );
      this.#counter(
        'grid_protocol_errors_total',
        'Clients disconnected for a malformed RPC frame.',
        [],
        () => [[{}, counters.protocol_errors]],
      );
      this.#counter(
        'grid_room_stream_failures_total',
        'Peers dropped because their room stream never attached or overflowed.',
        [],
        () => [[{}, counters.room_stream_failures]],
      );
    }
    const outcomes = (counts: OutcomeCounts | undefined): [{ result: string }, number][] =>
      counts === undefined
        ? []
        : [
            [{ result: 'success' }, counts.successes],
            [{ result: 'failure' }, counts.failures],
          ];
    this.#counter(
      'grid_supervisor_reports_total',
      'sfu.Report calls to the supervisor, by result.',
      ['result'],
      () => outcomes(this.#supervisor),
    );
    const certificates = () =>
      Object.entries(this.#certificates).flatMap(([listener, read]) => {
        const stats = read();
        return stats === undefined ? [] : [{ listener, stats }];
      });
    this.#counter(
      'grid_tls_certificate_reloads_total',
      'Renewed certificate/key pairs taken into service (success) or refused (refused: unparsable, key mismatch, expired; the old pair stays), by listener.',
      ['listener', 'result'],
      () =>
        certificates().flatMap(({ listener, stats }): [{ listener: string; result: string }, number][] => [
          [{ listener, result: 'success' }, stats.reloads],
          [{ listener, result: 'refused' }, stats.refused],
        ]),
    );
    const expiry: Gauge<'listener'> = new Gauge({
      name: 'grid_tls_certificate_expiry_timestamp_seconds',
      help: 'notAfter of the certificate in service, seconds since the epoch, by listener.',
      labelNames: ['listener'],
      registers: [this.registry],
      collect: () => {
        expiry.reset();
        for (const { listener, stats } of certificates()) expiry.set({ listener }, stats.notAfterMs / 1000);
      },
    });
    this.#defineWebRtc();
    this.#counter('grid_telemetry_sends_total', 'Telemetry records POSTed, by result.', ['result'], () =>
      outcomes(this.#telemetry),
    );
  }
}
