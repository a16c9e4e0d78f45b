/**
 * Builds a running server's parts from its config: the token verifier, the SFU core with its
 * limits, and the listeners of the configured sections. The one place where config.toml keys
 * meet the modules that use them (each module takes its own params type).
 */
import { TokenVerifier, type VerifiedToken } from './auth/index.ts';
import type { GridConfig } from './config/index.ts';
import type { Grant } from './core/client.ts';
import type { LimitParams } from './core/limits.ts';
import { Sfu, type SfuParams } from './core/sfu.ts';
import type { Listener } from './grid.ts';
import type { GridLogger } from './observability/log.ts';
import { WebListener } from './transports/web/webListener.ts';

/**
 * `[internal] log_hanging_api_calls = true` warns about RPC calls still unanswered after this
 * long. ODIN documents the key as a switch, not a duration, so the threshold is ours.
 */
export const hangingApiCallThresholdMs = 1_000;

export function limitParamsFromConfig(config: GridConfig): LimitParams {
  const { limit } = config;
  const params: LimitParams = {
    incomingMessages: { ...limit.peer.incoming_messages },
    mediasPerPeer: limit.peer.medias,
    concurrentStreams: limit.peer.concurrent_streams,
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
): Partial<SfuParams> {
  const params: Partial<SfuParams> = {
    limits: limitParamsFromConfig(config),
    authenticate: async (token) => grantFromToken(await verifier.verify(token)),
    logger: logger.module('core'),
    logRejectedCalls: config.internal.log_rejected_api_calls,
  };
  if (config.internal.log_hanging_api_calls) params.hangingCallMs = hangingApiCallThresholdMs;
  return params;
}

export type GridParts = { sfu: Sfu; verifier: TokenVerifier; listeners: Listener[] };

/** The SFU and the listeners of every configured client section. */
export function assembleGrid(config: GridConfig, logger: GridLogger): GridParts {
  const verifier = createTokenVerifier(config);
  const sfu = new Sfu(sfuParamsFromConfig(config, verifier, logger));
  const listeners: Listener[] = [];
  if (config.http) {
    listeners.push(
      new WebListener({
        config: { ...config, http: config.http },
        sfu,
        verifier,
        logger: logger.module('web'),
      }),
    );
  }
  return { sfu, verifier, listeners };
}
