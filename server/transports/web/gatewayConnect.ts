/**
 * The gateway `Connect` call, answered by a standalone server itself.
 *
 * The 0.16 web SDK has no direct mode: `OdinClient.initRoom(token, gatewayUrl)` always POSTs
 * JSON-RPC 2.0 `{"method":"Connect"}` to `gatewayUrl` with `Authorization: Bearer <token>` and
 * reads only `result.address` (it then opens `wss://<address>/main`) and `result.token`, or
 * `error.message` (ODIN-PROTOCOL.md sections 2 and 5). From a page that is a cross-origin
 * request, so the CORS preflight is answered too, as 4Players/odin-gateway does.
 *
 * What a standalone server answers:
 * - the token must verify with this server's keys; tokens for the gateway (`aud: "gateway"`)
 *   are accepted here, since this endpoint *is* the gateway for a standalone server;
 * - its `sub`, when present, must allow joining (`connect`/`login`): the verifier refuses others,
 *   as the gateway filters methods by `sub`;
 * - `address` is this server's public address for the [http] listener;
 * - `token` is the same token when this server accepts it for joining (no `aud`, or `aud`
 *   includes `sfu`); a gateway-only token is re-issued for `sfu`, with `adr` set, signed with
 *   the same key, which needs that key's private part `d` in config.toml.
 *
 * JSON-RPC is hand-written here: one method, a handful of lines, and the error shapes must
 * match the gateway's exactly; a JSON-RPC library would add more than it saves.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import {
  type OdinJwk,
  signToken,
  TokenError,
  type TokenVerifier,
  type VerifiedToken,
} from '../../../common/auth/index.ts';
import type { LogThrottle } from '../../observability/logThrottle.ts';

export type GatewayConnectParams = {
  verifier: TokenVerifier;
  /** `host:port` the SDK opens `wss://<address>/main` on. */
  publicAddress: string;
  /** Keys with `d`, by kid, for re-issuing gateway tokens. */
  signingKeys: ReadonlyMap<string, OdinJwk>;
  logger: Logger;
  /** Lifetime of a re-issued token, seconds (the gateway's default login token lifetime). */
  reissuedTokenLifetimeSeconds?: number;
  /** Throttles the info line per refused token (anyone may send bad tokens at will). */
  refusalLog?: LogThrottle;
};

/** A JSON-RPC request body larger than this is refused: Connect's params are `{}`. */
export const maxConnectBodyBytes = 16 * 1024;

// JSON-RPC 2.0 error codes (https://www.jsonrpc.org/specification#error_object).
const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;
const METHOD_NOT_FOUND = -32601;
const SERVER_ERROR = -32000;

const corsHeaders = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'Authorization, Content-Type',
  'access-control-allow-methods': 'POST, OPTIONS',
  'access-control-max-age': '600',
  'cache-control': 'no-store',
};

/** Whether a request is for the Connect endpoint (`/` on the [http] listener). */
export function isGatewayRequest(request: IncomingMessage): boolean {
  const path = (request.url ?? '/').split('?')[0];
  return path === '/' && (request.method === 'POST' || request.method === 'OPTIONS');
}

export async function handleGatewayRequest(
  request: IncomingMessage,
  response: ServerResponse,
  params: GatewayConnectParams,
): Promise<void> {
  if (request.method === 'OPTIONS') {
    response.writeHead(204, corsHeaders).end();
    return;
  }
  let id: unknown = null;
  const reply = (status: number, body: Record<string, unknown>) => {
    response.writeHead(status, { ...corsHeaders, 'content-type': 'application/json' });
    response.end(JSON.stringify({ jsonrpc: '2.0', id, ...body }));
  };
  const fail = (status: number, code: number, message: string) => reply(status, { error: { code, message } });

  const body = await readBody(request, maxConnectBodyBytes);
  if (body === aborted) {
    // The client went away mid-request: nothing to answer, nothing wrong on our side.
    params.logger.debug({ remote: request.socket.remoteAddress }, 'Connect request aborted by the client');
    return;
  }
  if (body === undefined)
    return fail(413, INVALID_REQUEST, `request body larger than ${maxConnectBodyBytes} bytes`);
  let call: unknown;
  try {
    call = JSON.parse(body);
  } catch {
    return fail(400, PARSE_ERROR, 'request body is not JSON');
  }
  if (typeof call !== 'object' || call === null || Array.isArray(call)) {
    return fail(400, INVALID_REQUEST, 'expected a JSON-RPC 2.0 request object');
  }
  const { method } = call as { method?: unknown };
  id = (call as { id?: unknown }).id ?? null;
  if (method !== 'Connect') {
    return fail(
      404,
      METHOD_NOT_FOUND,
      `unknown method ${JSON.stringify(method)}: this server answers only Connect`,
    );
  }

  const header = request.headers.authorization ?? '';
  const bearer = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
  if (bearer === undefined)
    return fail(401, SERVER_ERROR, 'missing authorization: expected "Authorization: Bearer <token>"');

  let verified: VerifiedToken;
  try {
    verified = await params.verifier.verify(bearer, { audiences: ['gateway', 'sfu'] });
  } catch (error) {
    if (!(error instanceof TokenError)) throw error;
    const suppressed = params.refusalLog === undefined ? 0 : params.refusalLog.take();
    if (suppressed !== undefined) {
      params.logger.info(
        { reason: error.code, remote: request.socket.remoteAddress, suppressed },
        'Connect refused',
      );
    }
    return fail(401, SERVER_ERROR, `invalid token (${error.code}): ${error.message}`);
  }

  const usableAsIs = verified.audience === undefined || verified.audience.includes('sfu');
  if (usableAsIs) return reply(200, { result: { address: params.publicAddress, token: bearer } });

  const key = verified.keyId === undefined ? undefined : params.signingKeys.get(verified.keyId);
  if (key === undefined) {
    return fail(
      403,
      SERVER_ERROR,
      'the token is for the gateway (aud "gateway") and this server cannot re-issue it: mint tokens without aud ' +
        'or with aud "sfu", or give the key its private part d in config.toml',
    );
  }
  const token = await signToken(
    key,
    {
      uid: verified.userId,
      rid: verified.roomIds.length === 1 ? verified.roomIds[0]! : verified.roomIds,
      ...(verified.customerId === undefined ? {} : { cid: verified.customerId }),
      ...(verified.namespace === '' ? {} : { nsp: verified.namespace }),
      adr: params.publicAddress,
      sub: 'connect',
    },
    { audience: 'sfu', lifetimeSeconds: params.reissuedTokenLifetimeSeconds ?? 300 },
  );
  return reply(200, { result: { address: params.publicAddress, token } });
}

/** What {@link readBody} returns when the client closed or reset the request before its end. */
const aborted = Symbol('aborted');

/**
 * The request body as text, undefined once it exceeds `limit` bytes, or {@link aborted}.
 * Every way a request can end settles the promise (an aborted request emits `error`
 * "aborted" and `close`, never `end`).
 */
function readBody(request: IncomingMessage, limit: number): Promise<string | undefined | typeof aborted> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.removeAllListeners('data');
        request.resume();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', () => resolve(aborted));
    request.on('close', () => {
      if (!request.complete) resolve(aborted);
    });
  });
}
