/**
 * Plain HTTPS requests for tests of the [http] listener (status, headers and body as they are,
 * with no client library deciding what an answer means).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';

export type HttpAnswer = { status: number; headers: IncomingHttpHeaders; body: string };

export type HttpOptions = {
  ca: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
};

export function httpsRequest(url: string, options: HttpOptions): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const call = request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        ca: options.ca,
        agent: false,
        timeout: options.timeoutMs ?? 5_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        response.on('error', reject);
      },
    );
    call.on('timeout', () =>
      call.destroy(new Error(`${url}: no answer within ${options.timeoutMs ?? 5_000} ms`)),
    );
    call.on('error', reject);
    call.end(options.body);
  });
}

/** POSTs a JSON-RPC call to the gateway endpoint; the body parsed as JSON. */
export async function jsonRpc(
  url: string,
  options: { ca: string; token?: string; method?: string; body?: string },
): Promise<{ status: number; headers: IncomingHttpHeaders; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const body =
    options.body ??
    JSON.stringify({ jsonrpc: '2.0', id: 7, method: options.method ?? 'Connect', params: {} });
  const answer = await httpsRequest(url, { ca: options.ca, method: 'POST', headers, body });
  return {
    status: answer.status,
    headers: answer.headers,
    json: JSON.parse(answer.body) as Record<string, unknown>,
  };
}

/** The claims of a compact JWS (not verified: for reading what a server issued). */
export function tokenClaims(token: string): Record<string, unknown> {
  const payload = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}
