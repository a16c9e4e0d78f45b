/**
 * The HTTP plumbing of the built-in supervisor's two listeners, bounded against a caller with a
 * socket: a connection cap, short header/request/idle deadlines, small header limit, and bodies
 * read only after the credentials in the headers were accepted, up to a cap per endpoint and a
 * budget over all requests in flight. node:http has the knobs; this puts them in one place.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ListenerLimits = {
  /** Open connections at most; more are refused by the kernel accept path (node: destroyed). */
  maxConnections: number;
  /** The request headers must arrive within this (node's `headersTimeout`). */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this (node's `requestTimeout`). */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Largest request head (request line + headers). */
  maxHeaderBytes: number;
};

/**
 * Defaults: a grid report is a few KiB every 5 s; a `Connect` is one small request. 5 s for the
 * headers and 10 s for the body are generous for both and keep a slow-loris connection short.
 */
export const defaultLimits: ListenerLimits = {
  maxConnections: 512,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxHeaderBytes: 8 * 1024,
};

export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Bytes of request bodies held at once over all requests of a listener. */
export class BodyBudget {
  readonly limit: number;
  #used = 0;
  constructor(limit: number) {
    this.limit = limit;
  }
  get used(): number {
    return this.#used;
  }
  take(n: number): boolean {
    if (this.#used + n > this.limit) return false;
    this.#used += n;
    return true;
  }
  give(n: number): void {
    this.#used -= n;
  }
}

/**
 * The body as text, at most `maxBytes` (a larger declared `content-length` is refused before a
 * byte is read) and within the listener's budget; 413/503 otherwise.
 */
export function readBody(req: IncomingMessage, maxBytes: number, budget: BodyBudget): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes)
    return Promise.reject(new HttpError(413, `body larger than ${maxBytes} bytes`));
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    const release = () => budget.give(size);
    const fail = (error: HttpError) => {
      release();
      size = 0;
      req.removeAllListeners('data');
      req.resume();
      reject(error);
    };
    req.on('data', (chunk: Buffer) => {
      if (size + chunk.length > maxBytes)
        return fail(new HttpError(413, `body larger than ${maxBytes} bytes`));
      if (!budget.take(chunk.length)) return fail(new HttpError(503, 'busy: too many requests in flight'));
      size += chunk.length;
      chunks.push(chunk);
    });
    req.on('end', () => {
      release();
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (error) => {
      release();
      reject(error);
    });
  });
}

/** A listener with the limits applied; `handle` errors become 500 without detail. */
export async function listen(params: {
  host: string;
  port: number;
  limits: ListenerLimits;
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  onError: (error: unknown) => void;
}): Promise<{ server: Server; port: number }> {
  const { limits } = params;
  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      requestTimeout: limits.requestTimeoutMs,
      // How often node checks the header/request deadlines (default 30 s: far too coarse here).
      connectionsCheckingInterval: 1_000,
    },
    (req, res) => {
      params.handle(req, res).catch((error: unknown) => {
        params.onError(error);
        if (!res.headersSent) res.writeHead(500, { connection: 'close' }).end();
      });
    },
  );
  server.headersTimeout = limits.headersTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  // Idle sockets (no request under way) are closed by keepAliveTimeout; this catches the rest.
  server.timeout = limits.requestTimeoutMs + limits.keepAliveTimeoutMs;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(params.port, params.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}

export async function close(server: Server | undefined): Promise<void> {
  if (!server) return;
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Path segments, percent-decoded; a malformed escape is the caller's error (400), not ours. */
export function pathSegments(rawUrl: string | undefined): string[] {
  const url = new URL(rawUrl ?? '/', 'http://supervisor');
  try {
    return url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw new HttpError(400, 'malformed percent-escape in the path');
  }
}
