/**
 * JSON-RPC 2.0 (https://www.jsonrpc.org/specification) over HTTP POST, as the ODIN gateway's
 * internal API expects it (ODIN-PROTOCOL.md section 5). Credentials in the URL
 * (`http://user:password@host/internal`) become an HTTP Basic `Authorization` header
 * (RFC 7617) and are stripped from the request URL; they never appear in an error message.
 */
import { redactUrl } from '../config/index.ts';
import { SupervisorError } from './errors.ts';

export type JsonRpcClientParams = {
  url: string;
  /** Time limit of one call, ms. */
  timeoutMs: number;
};

/**
 * `http://user:password@host/x` → the URL without credentials and the HTTP Basic header value
 * (RFC 7617) they make; no credentials → no header. Percent-escapes in them are decoded.
 */
export function splitUrlCredentials(text: string): { endpoint: string; authorization: string | undefined } {
  const url = new URL(text);
  if (url.username === '' && url.password === '')
    return { endpoint: url.toString(), authorization: undefined };
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  return {
    endpoint: url.toString(),
    authorization: `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`,
  };
}

export class JsonRpcClient {
  readonly #endpoint: string;
  readonly #authorization: string | undefined;
  readonly #shownUrl: string;
  readonly #timeoutMs: number;
  #nextId = 1;

  constructor(params: JsonRpcClientParams) {
    const { endpoint, authorization } = splitUrlCredentials(params.url);
    this.#endpoint = endpoint;
    this.#authorization = authorization;
    this.#shownUrl = redactUrl(params.url);
    this.#timeoutMs = params.timeoutMs;
  }

  /** The URL as logs may show it (password redacted). */
  get shownUrl(): string {
    return this.#shownUrl;
  }

  /** Calls `method`; resolves with the result, rejects with a SupervisorError. */
  async call(method: string, params: Record<string, unknown>): Promise<unknown> {
    const id = this.#nextId++;
    const where = `${method} at ${this.#shownUrl}`;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json',
    };
    if (this.#authorization !== undefined) headers.authorization = this.#authorization;
    let response: Response;
    try {
      response = await fetch(this.#endpoint, {
        method: 'POST',
        headers,
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      const cause = error instanceof Error ? error : undefined;
      if (cause?.name === 'TimeoutError') {
        throw new SupervisorError('timeout', `${where}: no answer within ${this.#timeoutMs} ms`);
      }
      const detail = (cause?.cause as Error | undefined)?.message ?? cause?.message ?? String(error);
      throw new SupervisorError('network', `${where}: ${detail}`, { cause: error });
    }
    const text = await response.text().catch(() => '');
    if (response.status !== 200) {
      const hint = response.status === 401 ? ' (check the credentials in [supervisor] url)' : '';
      throw new SupervisorError('http', `${where}: HTTP ${response.status}${hint}: ${text.slice(0, 200)}`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new SupervisorError('bad_response', `${where}: the answer is not JSON: ${text.slice(0, 200)}`);
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new SupervisorError('bad_response', `${where}: the answer is not a JSON-RPC response object`);
    }
    const message = body as { jsonrpc?: unknown; error?: unknown; result?: unknown };
    if (message.error !== undefined && message.error !== null) {
      const error = message.error as { code?: unknown; message?: unknown };
      throw new SupervisorError(
        'rpc',
        `${where}: the supervisor answered error ${String(error.code)}: ${String(error.message)}`,
      );
    }
    if (!('result' in message)) {
      throw new SupervisorError('bad_response', `${where}: the answer has neither result nor error`);
    }
    return message.result;
  }
}
