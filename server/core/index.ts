/** The transport-agnostic SFU core: the surface transports, the supervisor and metrics use. */
export { type Authenticator, Client, type ConnectOptions, type Grant } from './client.ts';
export { type Clock, systemClock, type TimerHandle } from './clock.ts';
export type { Connection, RpcEndpoint, SignalingRequest } from './connection.ts';
export { RpcError, type RpcErrorCode } from './errors.ts';
export {
  defaultLimitParams,
  INCOMING_MESSAGES_OVERFLOW,
  type IncomingMessagesParams,
  type LimitParams,
  RpcRateLimiter,
} from './limits.ts';
export { type CoreLogger, type LogMethod, silentLogger } from './logger.ts';
export { Media } from './media.ts';
export { MAX_PENDING_NOTIFICATIONS, Peer } from './peer.ts';
export { distanceSquared, inRange, PROXIMITY_RANGE } from './proximity.ts';
export { Room, roomKey } from './room.ts';
export { defaultSfuParams, Sfu, type SfuCounters, type SfuObserverEvents, type SfuParams } from './sfu.ts';
export { TokenBucket, type TokenBucketParams } from './tokenBucket.ts';
export type { VoiceStats } from './voiceRouter.ts';
