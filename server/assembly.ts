/**
 * Builds a running server's parts from its config: the token verifier, the SFU core with its
 * limits, and the listeners of the configured sections. The one place where config.toml keys
 * meet the modules that use them (each module takes its own params type).
 */
import { signToken, TokenVerifier, type VerifiedToken } from '../common/auth/index.ts';
import type { LicenseFields } from '../common/license/format.ts';
import {
  defaultMetricsConfig,
  defaultQuicConfig,
  type GridConfig,
  type LimitConfig,
  publicAddressFor,
  requirePublicAddress,
} from './config/index.ts';
import type { AttachGuard } from './core/attachGuard.ts';
import type { Grant } from './core/client.ts';
import type { LimitParams } from './core/limits.ts';
import { Sfu, type SfuParams } from './core/sfu.ts';
import type { Grid } from './grid.ts';
import type { Listener } from './listener.ts';
import type { GridLogger } from './observability/log.ts';
import { GridMetrics } from './observability/metrics.ts';
import { MetricsListener } from './observability/metricsListener.ts';
import { SystemUsageSampler } from './observability/metricsSystem.ts';
import { JsonRpcClient, publicEndpointFor, reportedVersion, SupervisorReporter } from './supervisor/index.ts';
import { computeLoad } from './supervisor/load.ts';
import { Telemetry } from './telemetry/index.ts';
import type { CertificateReloadStats } from './tls/certificateReloader.ts';
import { WebTransportH2Server } from './transports/quic/h2Server.ts';
import { loadNativeAddon } from './transports/quic/nativeAddon.ts';
import { QuicListener } from './transports/quic/quicListener.ts';
import { WebListener } from './transports/web/webListener.ts';
import { webVoiceTooLate } from './transports/web/webrtc/webRtcSession.ts';

// For the commands (server/cli), which do not reach into the transports themselves.
export {
  NATIVE_BUILD_COMMAND,
  NativeQuicUnavailable,
  nativeAddonProblem,
} from './transports/quic/nativeAddon.ts';

/**
 * Throws NativeQuicUnavailable (naming the command that builds the addon) when there is a
 * `[quic]` and the native addon it runs on cannot be loaded: run.ts calls it before any
 * listener opens, so a missing addon refuses the start with a message, not a failure later.
 */
export function requireQuicEngine(config: GridConfig): void {
  if (config.quic !== undefined) loadNativeAddon();
}

/** The core's limits from `[limit]`: `limitParamsFromConfig(defaultLimitConfig)` are the default ones. */
export function limitParamsFromConfig(limit: LimitConfig): LimitParams {
  const params: LimitParams = {
    incomingMessages: { ...limit.peer.incoming_messages },
    mediasPerPeer: limit.peer.medias,
    concurrentStreams: limit.peer.concurrent_streams,
    unauthenticated: {
      maxPending: limit.max_unauthenticated,
      maxPendingPerSource: limit.max_unauthenticated_per_address,
      timeoutMs: limit.authentication_timeout,
    },
  };
  if (limit.max_clients !== undefined) params.maxClients = limit.max_clients;
  if (limit.max_rooms !== undefined) params.maxRooms = limit.max_rooms;
  if (limit.max_peers !== undefined) params.maxPeers = limit.max_peers;
  if (limit.network.incoming_media_packets !== undefined) {
    params.incomingMediaPackets = { ...limit.network.incoming_media_packets };
  }
  return params;
}

export function grantFromToken(token: VerifiedToken): Grant {
  const grant: Grant = { userId: token.userId, roomIds: token.roomIds, namespace: token.namespace };
  if (token.customerId !== undefined) grant.customerId = token.customerId;
  return grant;
}

export function createTokenVerifier(config: GridConfig): TokenVerifier {
  return new TokenVerifier({
    keys: config.authorization.keys,
    allowUnsigned: config.authorization.allow_unsigned,
    leewayMs: config.authorization.leeway,
  });
}

export function sfuParamsFromConfig(
  config: GridConfig,
  verifier: TokenVerifier,
  logger: GridLogger,
): Partial<SfuParams> & Pick<SfuParams, 'limits'> {
  const params: Partial<SfuParams> & Pick<SfuParams, 'limits'> = {
    limits: limitParamsFromConfig(config.limit),
    authenticate: async (token) => grantFromToken(await verifier.verify(token)),
    logger: logger.module('core'),
    logRejectedCalls: config.internal.log_rejected_api_calls,
  };
  if (config.internal.log_hanging_api_calls !== undefined)
    params.hangingCallMs = config.internal.log_hanging_api_calls;
  const reconnectToken = reconnectTokenIssuer(config);
  if (reconnectToken !== undefined) params.reconnectToken = reconnectToken;
  return params;
}

/** How long a `RequestReconnectToken` answer lets a client rejoin, seconds. */
export const reconnectTokenLifetimeSeconds = 300;

/**
 * `RequestReconnectToken`: a fresh token for the same user, room and namespace, meant for this
 * server (`aud: "sfu"`, `adr`), so a client that lost its connection can join again here
 * without going back to its backend or the gateway. It needs a configured key with its private
 * part `d`; without one the call is refused with that reason.
 */
export function reconnectTokenIssuer(config: GridConfig): SfuParams['reconnectToken'] {
  const key = config.authorization.keys.find((candidate) => candidate.d !== undefined);
  if (key === undefined) return undefined;
  const address = config.http
    ? publicAddressFor(config, 'http')
    : config.quic
      ? publicAddressFor(config, 'quic')
      : config.public_address;
  return (peer) =>
    signToken(
      key,
      {
        uid: peer.userId,
        rid: peer.room.id,
        ...(peer.room.namespace === '' ? {} : { nsp: peer.room.namespace }),
        ...(peer.room.customer === '' ? {} : { cid: peer.room.customer }),
        adr: address,
      },
      { audience: 'sfu', lifetimeSeconds: reconnectTokenLifetimeSeconds },
    );
}

export type GridParts = {
  sfu: Sfu;
  verifier: TokenVerifier;
  listeners: Listener[];
  /** Present with `[metrics]`. */
  metrics: GridMetrics | undefined;
  system: SystemUsageSampler;
  /** The load reported to the supervisor and exported as `grid_load` (supervisor/load.ts). */
  load: () => number;
};

/** Longest wait for one supervisor call. */
export const supervisorCallTimeoutMs = 10_000;

/**
 * The SFU and the listeners of every configured section (`[metrics]` first, so health answers
 * while the others open). `ready` is what `/readyz` reports (the Grid's `ready`, once it exists).
 */
export function assembleGrid(
  config: GridConfig,
  logger: GridLogger,
  options: { ready?: () => boolean; attachGuard?: AttachGuard } = {},
): GridParts {
  const verifier = createTokenVerifier(config);
  const sfu = new Sfu(sfuParamsFromConfig(config, verifier, logger));
  const listeners: Listener[] = [];
  const system = new SystemUsageSampler({
    intervalMs: config.metrics?.system_update_interval ?? defaultMetricsConfig.system_update_interval,
  });
  const load = () => {
    let rooms = 0;
    for (const _ of sfu.rooms()) rooms++;
    return computeLoad({
      clients: sfu.clientCount,
      peers: sfu.peerCount,
      rooms,
      maxClients: sfu.limits.maxClients,
      maxPeers: sfu.limits.maxPeers,
      maxRooms: sfu.limits.maxRooms,
      cpu: system.usage.cpu,
      draining: sfu.draining,
    });
  };
  let metrics: GridMetrics | undefined;
  const certificates: Record<string, () => CertificateReloadStats | undefined> = {};
  if (config.metrics) {
    const ready = options.ready ?? (() => false);
    metrics = new GridMetrics({ config: config.metrics, sfu, system, load, ready, webVoiceTooLate });
    listeners.push(
      new MetricsListener({ config: config.metrics, metrics, ready, logger: logger.module('metrics') }),
    );
  }
  let http2: WebTransportH2Server | undefined;
  if (config.http?.certificate_file !== undefined) {
    // WebTransport over HTTP/2 on the [http] TLS port, for native clients whose network blocks
    // UDP; timed like the native sessions on [quic] (its keys, or their defaults).
    const quic = config.quic ?? defaultQuicConfig;
    http2 = new WebTransportH2Server({
      sfu,
      logger: logger.module('http2'),
      connectTimeoutMs: quic.connect_timeout,
      noPeersTimeoutMs: quic.no_peers_timeout,
      idleTimeoutMs: quic.idle_timeout,
    });
  }
  let quicListener: QuicListener | undefined;
  if (config.http) {
    const web = new WebListener({
      config: config.http,
      publicAddress: requirePublicAddress(config),
      authorizationKeys: config.authorization.keys,
      sfu,
      verifier,
      logger: logger.module('web'),
      ...(options.attachGuard ? { attachGuard: options.attachGuard } : {}),
      ...(http2 === undefined ? {} : { http2 }),
    });
    listeners.push(web);
    certificates.http = () => web.certificateStats;
    metrics?.watchWebRtc(() => web.webRtcStats);
  }
  if (config.quic) {
    const quic = new QuicListener({ config: config.quic, sfu, logger: logger.module('quic') });
    listeners.push(quic);
    certificates.quic = () => quic.certificateStats;
    quicListener = quic;
  }
  metrics?.watchCertificates(certificates);
  metrics?.watchNativeTransports({
    quic: () => quicListener?.nativeStats,
    http2: () => http2?.nativeStats,
  });
  return { sfu, verifier, listeners, metrics, system, load };
}

/**
 * Starts what runs beside the listeners once the grid is up: system sampling, `sfu.Report`
 * (with `[supervisor]`) and telemetry (with `[telemetry]`); all stop when the grid stops.
 * Draining is reported to the supervisor at once; a supervisor gone for 300 s or failing
 * telemetry drains and stops the grid (exit 1). `settled()` waits for a report in flight
 * (the draining one) so that the process does not exit before the supervisor heard it.
 */
export function startGridServices(params: {
  grid: Grid;
  config: GridConfig;
  parts: GridParts;
  license: LicenseFields | null;
  version: string;
  logger: GridLogger;
}): { settled(): Promise<void> } {
  const { grid, config, parts, license, version, logger } = params;
  let settled = async () => {};
  const { sfu, system, metrics, load } = parts;
  system.start();
  const stops: (() => void)[] = [() => system.stop(), () => metrics?.dispose()];
  if (config.supervisor) {
    const reporter = new SupervisorReporter({
      config: config.supervisor,
      client: new JsonRpcClient({
        url: config.supervisor.url,
        timeoutMs: supervisorCallTimeoutMs,
        ...(config.supervisor.token_file ? { tokenFile: config.supervisor.token_file } : {}),
      }),
      sfu,
      load,
      version: reportedVersion(config.supervisor, version),
      publicEndpoint: publicEndpointFor(config) ?? requirePublicAddress(config),
      logger: logger.module('supervisor'),
      onGone: () => void grid.shutdown('supervisor-gone'),
    });
    metrics?.watchSupervisor(reporter.stats);
    grid.on('state', (state) => {
      if (state === 'draining') void reporter.reportNow();
    });
    reporter.start();
    stops.push(() => reporter.stop());
    settled = () => reporter.settled();
  }
  if (config.telemetry) {
    const quic = parts.listeners.find((listener) => listener instanceof QuicListener);
    const telemetry = new Telemetry({
      config: config.telemetry,
      license,
      version,
      publicAddress: publicEndpointFor(config) ?? requirePublicAddress(config),
      usage: () => {
        const table = quic?.nativeStats.table;
        let rooms = 0;
        let medias = 0;
        for (const room of sfu.rooms()) {
          rooms++;
          medias += room.mediaById.size;
        }
        return {
          clients: sfu.clientCount,
          peers: sfu.peerCount,
          rooms,
          medias,
          // The native engine's forwarding table counts what the core never saw (docs/native-quic.md).
          voice_packets_in: sfu.voiceStats.received + (table?.alone.received ?? 0),
          voice_packets_out: sfu.voiceStats.forwarded + (table?.alone.forwarded ?? 0),
        };
      },
      logger: logger.module('telemetry'),
      onFailing: () => void grid.shutdown('telemetry-failed'),
    });
    metrics?.watchTelemetry(telemetry.stats);
    telemetry.start();
    stops.push(() => telemetry.stop());
  }
  grid.on('state', (state) => {
    if (state === 'stopped') for (const stop of stops) stop();
  });
  return { settled: () => settled() };
}
