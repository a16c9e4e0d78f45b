/**
 * `server/supervisor`: the client side of the supervisor (gateway) protocol, ODIN-PROTOCOL.md
 * section 5; behaviour documented in docs/operations.md.
 */

export {
  type DurationWire,
  durationFromMs,
  type GridConfigParams,
  parseReportResult,
  parseTask,
  type ReportParams,
  type RoomIdWire,
  type RoomReport,
  type SupervisorTask,
  TaskParseError,
} from '../../common/gateway/protocol.ts';
export { SupervisorError, type SupervisorErrorCode } from './errors.ts';
export { JsonRpcClient, type JsonRpcClientParams, splitUrlCredentials } from './jsonRpcClient.ts';
export { computeLoad, type LoadInputs } from './load.ts';
export {
  MAX_REPORT_BACKOFF_MS,
  type ReportSource,
  SUPERVISOR_GONE_AFTER_MS,
  SupervisorReporter,
  type SupervisorReporterParams,
} from './reporter.ts';
export {
  awaitSupervisedConfig,
  fetchSupervisedConfig,
  gridConfigAnswerSource,
  publicEndpointFor,
  reportedVersion,
} from './supervisedConfig.ts';
export { executeTask, type TaskTarget } from './tasks.ts';
