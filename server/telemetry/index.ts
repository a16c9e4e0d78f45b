/** `server/telemetry`: licence and usage telemetry; payload in docs/operations.md. */
export {
  TELEMETRY_SCHEMA,
  Telemetry,
  type TelemetryParams,
  type TelemetryRecord,
  type TelemetryUsage,
} from './telemetry.ts';
