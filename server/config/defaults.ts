// Each section's defaults, derived from the schema (never written twice), LiveKit style: a
// module that takes a `QuicConfig` can start from `defaultQuicConfig`. Frozen: share, don't mutate.

import {
  type AuthorizationConfig,
  AuthorizationSchema,
  type HttpConfig,
  HttpSchema,
  type InternalConfig,
  InternalSchema,
  type LimitConfig,
  LimitSchema,
  type LogConfig,
  LogSchema,
  type MetricsConfig,
  MetricsSchema,
  type QuicConfig,
  QuicSchema,
  type ShutdownConfig,
  ShutdownSchema,
  type SupervisorConfig,
  SupervisorSchema,
  type TelemetryConfig,
  TelemetrySchema,
} from './schema.ts';
import { withDefaults } from './validate.ts';

function deepFreeze<T>(v: T): Readonly<T> {
  if (v !== null && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** Defaults of a section that has required keys: those keys are left out. */
function defaultsWithout<T, K extends keyof T>(schema: object, _required: K): Readonly<Omit<T, K>> {
  return deepFreeze(withDefaults<Omit<T, K>>({ ...schema, required: [] }));
}

export const defaultAuthorizationConfig = deepFreeze(withDefaults<AuthorizationConfig>(AuthorizationSchema));
export const defaultQuicConfig = deepFreeze(withDefaults<QuicConfig>(QuicSchema));
export const defaultHttpConfig = deepFreeze(withDefaults<HttpConfig>(HttpSchema));
export const defaultMetricsConfig = deepFreeze(withDefaults<MetricsConfig>(MetricsSchema));
export const defaultLimitConfig = deepFreeze(withDefaults<LimitConfig>(LimitSchema));
export const defaultInternalConfig = deepFreeze(withDefaults<InternalConfig>(InternalSchema));
export const defaultLogConfig = deepFreeze(withDefaults<LogConfig>(LogSchema));
export const defaultShutdownConfig = deepFreeze(withDefaults<ShutdownConfig>(ShutdownSchema));
export const defaultSupervisorConfig = defaultsWithout<SupervisorConfig, 'url'>(SupervisorSchema, 'url');
export const defaultTelemetryConfig = defaultsWithout<TelemetryConfig, 'address'>(TelemetrySchema, 'address');
