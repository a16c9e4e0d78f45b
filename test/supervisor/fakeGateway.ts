/**
 * A stand-in for `4Players/odin-gateway`'s internal API: a real HTTP server speaking JSON-RPC
 * 2.0. It records every call (with its Authorization header), answers `sfu.GridConfig` with the
 * server's config merged with recommended settings plus a derived key (local values win), and
 * answers `sfu.Report` with the tasks queued since the last report.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse, stringify } from 'smol-toml';
import { deriveServerKey } from '../../common/auth/index.ts';

export type RecordedCall = {
  method: string;
  params: Record<string, unknown>;
  authorization: string | undefined;
};

export const masterKey = new Uint8Array(32).fill(7);

type Table = Record<string, unknown>;

/** Deep merge, `local` wins, arrays appended (as the gateway's generator does). */
function merge(recommended: Table, local: Table): Table {
  const out: Table = { ...recommended };
  for (const [key, value] of Object.entries(local)) {
    const base = out[key];
    if (Array.isArray(base) && Array.isArray(value)) out[key] = [...base, ...value];
    else if (isTable(base) && isTable(value)) out[key] = merge(base, value);
    else out[key] = value;
  }
  return out;
}

function isTable(v: unknown): v is Table {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export class FakeGateway {
  readonly calls: RecordedCall[] = [];
  readonly tasks: unknown[] = [];
  /** Answer every call with this HTTP status instead (e.g. 500: the gateway is down). */
  failWith: number | undefined;
  /** Replace the sfu.GridConfig answer's TOML. */
  configAnswer: string | undefined;
  /** Credentials required, as `user:password`; undefined: none. */
  credentials: string | undefined;
  /**
   * More recommended settings for the sfu.GridConfig answer (local values still win), e.g. the
   * `public_address` and listeners a minimal supervised config leaves to the supervisor.
   */
  recommended: Record<string, unknown> = {};
  #server: Server | undefined;

  async start(): Promise<void> {
    const server = createServer((request, response) => {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => {
        body += chunk;
      });
      request.on('end', () => {
        const authorization = request.headers.authorization;
        const message = JSON.parse(body) as { id: number; method: string; params: Record<string, unknown> };
        this.calls.push({ method: message.method, params: message.params, authorization });
        const reply = (status: number, value: unknown) => {
          response.writeHead(status, { 'content-type': 'application/json' });
          response.end(JSON.stringify(value));
        };
        if (this.failWith !== undefined) return reply(this.failWith, { error: 'down' });
        if (this.credentials !== undefined) {
          const expected = `Basic ${Buffer.from(this.credentials).toString('base64')}`;
          if (authorization !== expected) return reply(401, { error: 'unauthorized' });
        }
        const result = this.#answer(message.method, message.params, request.socket.remoteAddress ?? '');
        reply(200, { jsonrpc: '2.0', id: message.id, result });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.#server = server;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}/internal`;
  }

  /** The URL with credentials, as `[supervisor] url` would carry them. */
  urlWith(credentials: string): string {
    return this.url.replace('http://', `http://${credentials}@`);
  }

  /** The key the gateway derives for `hostname` (what the merged config carries). */
  static keyFor(hostname: string) {
    return deriveServerKey(masterKey, hostname);
  }

  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  #answer(method: string, params: Record<string, unknown>, remoteAddress: string): unknown {
    if (method === 'sfu.GridConfig') {
      if (this.configAnswer !== undefined) return { config: this.configAnswer };
      const local = parse(String(params.config)) as Table;
      // Without public_endpoint the gateway names the server by the caller's address (getHostname).
      const hostname =
        typeof params.public_endpoint === 'string'
          ? params.public_endpoint
          : `${remoteAddress.replace(/^::ffff:/, '')}:4433`;
      const recommended: Table = merge(
        {
          supervisor: { report_interval: 5000 },
          limit: { peer: { incoming_messages: { rate: 10, capacity: 50, overflow: 20 } } },
          authorization: { keys: [FakeGateway.keyFor(hostname)] },
        },
        structuredClone(this.recommended),
      );
      return { config: stringify(merge(recommended, local)) };
    }
    if (method === 'sfu.Report') return { tasks: this.tasks.splice(0) };
    throw new Error(`unexpected method ${method}`);
  }
}
