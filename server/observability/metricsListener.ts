/**
 * The `[metrics]` listener: plain HTTP on `binding`, serving
 *
 *   GET /metrics   Prometheus exposition (metrics.ts)
 *   GET /healthz   200 while the process is alive (Kubernetes liveness)
 *   GET /readyz    200 when listeners are up, the config is final and the server is not
 *                  draining; 503 otherwise (Kubernetes readiness)
 *
 * `[metrics] allowed` limits who may ask: a remote address outside every listed address or
 * CIDR block gets 403 on every path. The listener keeps serving while the server drains, so
 * readiness turns false and the last figures stay scrapeable until the process exits.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BlockList, isIP } from 'node:net';
import type { Logger } from 'pino';
import { type MetricsConfig, splitBinding } from '../config/index.ts';
import type { Listener } from '../listener.ts';
import type { GridMetrics } from './metrics.ts';

export type MetricsListenerParams = {
  config: Pick<MetricsConfig, 'binding' | 'allowed'>;
  metrics: GridMetrics;
  /** Readiness (`grid.ready`); read on each `/readyz`. */
  ready: () => boolean;
  logger: Logger;
};

/** `[metrics] allowed` as a BlockList (used as an allow list). Empty: undefined, everyone may scrape. */
export function allowListFrom(allowed: readonly string[]): BlockList | undefined {
  if (allowed.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of allowed) {
    const slash = entry.indexOf('/');
    const address = slash < 0 ? entry : entry.slice(0, slash);
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (slash < 0) list.addAddress(address, type);
    else list.addSubnet(address, Number(entry.slice(slash + 1)), type);
  }
  return list;
}

/** Whether `address` (as a socket reports it; IPv4-mapped IPv6 included) is on the list. */
export function isAllowed(list: BlockList | undefined, address: string | undefined): boolean {
  if (list === undefined) return true;
  if (address === undefined) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return list.check(mapped[1]!, 'ipv4') || list.check(address, 'ipv6');
  return list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

export class MetricsListener implements Listener {
  readonly #params: MetricsListenerParams;
  readonly #allowed: BlockList | undefined;
  #server: Server | undefined;
  #name: string;

  constructor(params: MetricsListenerParams) {
    this.#params = params;
    this.#allowed = allowListFrom(params.config.allowed);
    this.#name = `metrics ${params.config.binding}`;
  }

  get name(): string {
    return this.#name;
  }

  /** The bound address (after open), e.g. to learn the port of a `:0` binding. */
  get address(): AddressInfo | undefined {
    const address = this.#server?.address();
    return address !== null && typeof address === 'object' ? address : undefined;
  }

  async open(): Promise<void> {
    const { host, port } = splitBinding(this.#params.config.binding);
    const server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        this.#params.logger.error({ err: error, path: request.url }, 'metrics request failed');
        if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
        response.end('internal error\n');
      });
    });
    // Scrapers keep connections alive; closing must not wait for them.
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    const bound = this.address;
    if (bound !== undefined) {
      const shown = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
      this.#name = `metrics ${shown}:${bound.port}`;
    }
  }

  /** Metrics and health stay up while draining: readiness turns false by itself. */
  drain(): void {}

  async close(_reason: string): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (!isAllowed(this.#allowed, request.socket.remoteAddress)) {
      response.writeHead(403, { 'content-type': 'text/plain' });
      response.end('forbidden: this address is not in [metrics] allowed\n');
      return;
    }
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      response.end('method not allowed: use GET\n');
      return;
    }
    if (path === '/metrics') {
      const { contentType, text } = await this.#params.metrics.scrape();
      response.writeHead(200, { 'content-type': contentType });
      response.end(request.method === 'HEAD' ? undefined : text);
    } else if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end('ok\n');
    } else if (path === '/readyz') {
      const ready = this.#params.ready();
      response.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
      response.end(ready ? 'ready\n' : 'not ready: starting, draining or stopped\n');
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' });
      response.end('not found: try /metrics, /healthz or /readyz\n');
    }
  }
}
