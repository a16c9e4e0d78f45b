/**
 * JSON-RPC 2.0 (https://www.jsonrpc.org/specification) over HTTP POST, as the ODIN gateway's
 * internal API expects it (ODIN-PROTOCOL.md section 5). Credentials in the URL
 * (`http://user:password@host/internal`) become an HTTP Basic `Authorization` header
 * (RFC 7617) and are stripped from the request URL; they never appear in an error message.
 * Or a bearer token (RFC 6750) read from `tokenFile` before every call: the operator gives each
 * pod a projected ServiceAccount token, which the kubelet rotates in place.
 */
import { readFile } from 'node:fs/promises';
import { redactUrl } from '../config/index.ts';
import { SupervisorError } from './errors.ts';

export type JsonRpcClientParams = {
  url: string;
  /** Time limit of one call, ms. */
  timeoutMs: number;
  /** File holding a bearer token (`[supervisor] token_file`), read for each call. */
  tokenFile?: string;
};

/** A token file larger than this is not a token (a ServiceAccount token is about 1 KiB). */
const MAX_TOKEN_BYTES = 16 * 1024;

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
  readonly #tokenFile: string | undefined;
  #nextId = 1;

  constructor(params: JsonRpcClientParams) {
    const { endpoint, authorization } = splitUrlCredentials(params.url);
    this.#endpoint = endpoint;
    this.#authorization = authorization;
    this.#shownUrl = redactUrl(params.url);
    this.#timeoutMs = params.timeoutMs;
    this.#tokenFile = params.tokenFile;
  }

  /** `Bearer <token file>` (read now: it rotates), else the URL's Basic credentials. */
  async #authorizationHeader(where: string): Promise<string | undefined> {
    if (this.#tokenFile === undefined) return this.#authorization;
    let token: string;
    try {
      const bytes = await readFile(this.#tokenFile);
      if (bytes.length > MAX_TOKEN_BYTES) throw new Error(`larger than ${MAX_TOKEN_BYTES} bytes`);
      token = bytes.toString('utf8').trim();
    } catch (error) {
      // 'network': retried like an unreachable supervisor (the kubelet may not have written it yet).
      throw new SupervisorError(
        'network',
        `${where}: cannot read the token file ${JSON.stringify(this.#tokenFile)}: ${(error as Error).message}`,
      );
    }
    if (!/^[\x21-\x7e]+$/.test(token))
      throw new SupervisorError(
        'network',
        `${where}: the token file ${JSON.stringify(this.#tokenFile)} holds no token (empty or not printable ASCII)`,
      );
    return `Bearer ${token}`;
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
    const authorization = await this.#authorizationHeader(where);
    if (authorization !== undefined) headers.authorization = authorization;
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
      const hint =
        response.status === 401
          ? this.#tokenFile === undefined
            ? ' (check the credentials in [supervisor] url)'
            : ' (check the token in [supervisor] token_file)'
          : '';
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
