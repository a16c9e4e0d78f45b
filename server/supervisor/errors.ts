/**
 * Every way talking to the supervisor fails, in one place. Messages name the method, the
 * supervisor URL with its password redacted, and what was wrong; they never hold credentials.
 *
 * | code           | meaning                                                                  |
 * |----------------|--------------------------------------------------------------------------|
 * | `network`      | no HTTP answer: connection refused, DNS, TLS, reset                       |
 * | `timeout`      | no answer within the call's time limit                                   |
 * | `http`         | an HTTP status other than 200 (401: wrong credentials in `[supervisor] url`) |
 * | `bad_response` | not a JSON-RPC 2.0 response, or a result of the wrong shape               |
 * | `rpc`          | a JSON-RPC error object (the supervisor refused the call)                 |
 * | `bad_config`   | the `sfu.GridConfig` answer is not a valid config.toml (problems listed)   |
 */
export type SupervisorErrorCode = 'network' | 'timeout' | 'http' | 'bad_response' | 'rpc' | 'bad_config';

export class SupervisorError extends Error {
  readonly code: SupervisorErrorCode;

  constructor(code: SupervisorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SupervisorError';
    this.code = code;
  }
}
