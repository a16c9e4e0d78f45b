/** `server/telemetry`: licence and usage telemetry; payload in docs/operations.md. */
export {
  TELEMETRY_SCHEMA,
  Telemetry,
  type TelemetryLicense,
  type TelemetryParams,
  type TelemetryRecord,
  type TelemetryUsage,
  telemetryLicense,
} from './telemetry.ts';
