/**
 * The built-in supervisor: the gateway protocol (ODIN-PROTOCOL.md section 5) served by the
 * operator, one fleet per OdinServer.
 *
 *   POST /internal/<namespace>/<name>/<pod>   sfu.GridConfig, sfu.Report (HTTP Basic: the
 *                                             fleet's `<name>-supervisor` password)
 *   POST /<namespace>/<name>                  Connect, RoomClose, RoomUpdate, RoomBanClient,
 *                                             RoomSendMessage (Bearer: a token signed with one
 *                                             of the fleet's access keys)
 *
 * Only the leader answers (others: HTTP 503, which a server treats as "supervisor down" and
 * retries): one replica owns placement and the task queues at a time.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { signToken, TokenError, TokenVerifier } from '../../common/auth/index.ts';
import type { RoomIdWire } from '../../common/gateway/protocol.ts';
import { ConfigError } from '../../server/config/index.ts';
import { AdminTokenError, verifyAdminToken } from './adminToken.ts';
import { chooseServer, Fleet, roomKey, type ServerEntry, SILENT_AFTER_MS } from './fleet.ts';
import { answerGridConfig, serverKeyFor } from './gridConfigAnswer.ts';
import { parseReportParams, WireError, wireTask } from './wire.ts';

const MAX_BODY = 1 << 20;

export class RpcError extends Error {
  readonly code: number;
  readonly status: number;
  constructor(code: number, message: string, status = 200) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

export type SupervisorServerParams = {
  host?: string;
  port?: number;
  isLeader: () => boolean;
  /** Called after each report (the controller refreshes status and autoscaling). */
  onReport?: (fleet: Fleet) => void;
  now?: () => number;
  random?: () => number;
  log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
};

export type SupervisorStats = { calls: Map<string, number> };

export class SupervisorServer {
  readonly fleets = new Map<string, Fleet>();
  readonly stats: SupervisorStats = { calls: new Map() };
  readonly #params: SupervisorServerParams;
  readonly #now: () => number;
  readonly #random: () => number;
  #server: Server | undefined;

  constructor(params: SupervisorServerParams) {
    this.#params = params;
    this.#now = params.now ?? Date.now;
    this.#random = params.random ?? Math.random;
  }

  fleet(namespace: string, name: string): Fleet {
    const key = `${namespace}/${name}`;
    let fleet = this.fleets.get(key);
    if (!fleet) {
      fleet = new Fleet(namespace, name);
      this.fleets.set(key, fleet);
    }
    return fleet;
  }

  /** Servers heard from within SILENT_AFTER_MS, over every fleet (`odin_operator_supervised_servers`). */
  reportingServers(): number {
    const now = this.#now();
    let count = 0;
    for (const fleet of this.fleets.values()) {
      for (const server of fleet.servers.values()) {
        if (server.lastReportAt !== undefined && now - server.lastReportAt < SILENT_AFTER_MS) count++;
      }
    }
    return count;
  }

  forget(namespace: string, name: string): void {
    this.fleets.delete(`${namespace}/${name}`);
  }

  async listen(): Promise<number> {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        this.#params.log?.('warn', 'supervisor request failed', { error: String(error) });
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#params.port ?? 0, this.#params.host ?? '0.0.0.0', () => resolve());
    });
    this.#server = server;
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  #count(what: string): void {
    this.stats.calls.set(what, (this.stats.calls.get(what) ?? 0) + 1);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://supervisor');
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method !== 'POST') return reply(405, { error: 'POST only' });
    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    let body: { id?: unknown; method?: unknown; params?: unknown };
    try {
      body = JSON.parse(await readBody(req)) as typeof body;
    } catch {
      return reply(400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } });
    }
    const id = body.id ?? null;
    const method = typeof body.method === 'string' ? body.method : '';
    try {
      if (!this.#params.isLeader()) throw new RpcError(-32000, 'not the leader: retry', 503);
      let result: unknown;
      if (segments[0] === 'internal' && segments.length === 4) {
        const fleet = this.#authenticateServer(req, segments[1]!, segments[2]!);
        result = this.#internal(fleet, segments[3]!, method, body.params);
      } else if (segments.length === 2) {
        result = await this.#public(req, segments[0]!, segments[1]!, method, body.params);
      } else throw new RpcError(-32601, `no endpoint at ${url.pathname}`, 404);
      this.#count(`${method}:ok`);
      reply(200, { jsonrpc: '2.0', id, result });
    } catch (error) {
      this.#count(`${method || 'unknown'}:error`);
      if (error instanceof RpcError)
        return reply(error.status, {
          jsonrpc: '2.0',
          id,
          error: { code: error.code, message: error.message },
        });
      throw error;
    }
  }

  #authenticateServer(req: IncomingMessage, namespace: string, name: string): Fleet {
    const fleet = this.fleets.get(`${namespace}/${name}`);
    const credentials = fleet?.credentials;
    const header = req.headers.authorization ?? '';
    const match = /^Basic (.+)$/.exec(header);
    const given = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
    const expected = `odin:${credentials?.password ?? ''}`;
    if (!fleet || !credentials || !sameText(given, expected)) throw new RpcError(-32001, 'unauthorized', 401);
    return fleet;
  }

  #internal(fleet: Fleet, pod: string, method: string, params: unknown): unknown {
    const now = this.#now();
    const credentials = fleet.credentials!;
    if (method === 'sfu.GridConfig') {
      const p = params as { config?: unknown } | null;
      if (typeof p?.config !== 'string') throw new RpcError(-32602, 'params.config: expected a TOML string');
      try {
        const override = fleet.addressOverrides.get(pod);
        const answer = answerGridConfig({
          localToml: p.config,
          masterKey: credentials.masterKey,
          ...(override ? { addressOverride: override } : {}),
        });
        const previous = fleet.servers.get(pod);
        fleet.servers.set(pod, {
          pod,
          endpoint: answer.endpoint,
          key: answer.key,
          tasks: previous?.tasks ?? [],
        });
        this.#params.log?.('info', 'sfu.GridConfig answered', {
          fleet: fleet.key,
          pod,
          endpoint: answer.endpoint,
        });
        return { config: answer.config };
      } catch (error) {
        const message = error instanceof ConfigError ? error.message : (error as Error).message;
        throw new RpcError(-32602, `the merged config is not valid: ${message}`);
      }
    }
    if (method === 'sfu.Report') {
      let report: ReturnType<typeof parseReportParams>;
      try {
        report = parseReportParams(params);
      } catch (error) {
        if (error instanceof WireError) throw new RpcError(-32602, error.message);
        throw error;
      }
      let entry = fleet.servers.get(pod);
      const endpoint = report.public_endpoint ?? entry?.endpoint;
      if (!endpoint)
        throw new RpcError(-32602, 'params.public_endpoint: needed before sfu.GridConfig was seen');
      // A new leader (or a restarted operator) derives the same key from the endpoint.
      if (!entry || entry.endpoint !== endpoint)
        entry = {
          pod,
          endpoint,
          key: serverKeyFor(credentials.masterKey, endpoint),
          tasks: entry?.tasks ?? [],
        };
      entry.report = report;
      entry.lastReportAt = now;
      fleet.servers.set(pod, entry);
      // A room reported by two servers: the newcomer closes its copy (the gateway's rule).
      for (const room of report.rooms) {
        const host = fleet.hostOf(room.id[0], room.id[1], now);
        const placed = fleet.placements.get(roomKey(room.id[0], room.id[1]));
        if (placed?.pod === pod) fleet.placements.delete(roomKey(room.id[0], room.id[1]));
        const theirs =
          host?.pod !== pod ? host?.report?.rooms.find((r) => sameRoom(r.id, room.id)) : undefined;
        if (theirs && ageMs(room.age) < ageMs(theirs.age)) entry.tasks.push(wireTask.roomClose(room.id, 0));
      }
      const tasks = entry.tasks.splice(0);
      this.#params.onReport?.(fleet);
      return { tasks };
    }
    throw new RpcError(-32601, `unknown method ${JSON.stringify(method)}`);
  }

  async #public(req: IncomingMessage, namespace: string, name: string, method: string, params: unknown) {
    const fleet = this.fleets.get(`${namespace}/${name}`);
    if (!fleet?.credentials) throw new RpcError(-32002, `no OdinServer ${namespace}/${name}`, 404);
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!bearer) throw new RpcError(-32001, 'missing Authorization: Bearer <token>', 401);
    const p = (params ?? {}) as Record<string, unknown>;
    const now = this.#now();
    const admin = method.toLowerCase();
    let token: { namespace: string; roomIds: string[]; userId: string; customerId?: string };
    try {
      if (method === 'Connect') {
        const verifier = new TokenVerifier({
          keys: fleet.credentials.accessKeys,
          allowUnsigned: false,
          leewayMs: 5000,
        });
        token = await verifier.verify(bearer, { audiences: ['gateway'] });
      } else if (['roomclose', 'roomupdate', 'roombanclient', 'roomsendmessage'].includes(admin)) {
        token = verifyAdminToken(bearer, fleet.credentials.accessKeys, admin, now);
      } else throw new RpcError(-32601, `unknown method ${JSON.stringify(method)}`);
    } catch (error) {
      if (error instanceof TokenError || error instanceof AdminTokenError)
        throw new RpcError(-32001, `token refused: ${error.message}`, 401);
      throw error;
    }
    const roomId = typeof p.room_id === 'string' ? p.room_id : token.roomIds[0];
    if (roomId === undefined || !token.roomIds.includes(roomId))
      throw new RpcError(-32602, 'params.room_id: not a room of the token');
    const id: RoomIdWire = [token.namespace, roomId];
    if (method === 'Connect') {
      fleet.prune(now);
      let server: ServerEntry | undefined = fleet.hostOf(token.namespace, roomId, now);
      if (!server) {
        server = chooseServer(fleet.candidates(now), this.#random);
        if (!server) throw new RpcError(-32003, 'no server can take a new room right now', 503);
        fleet.placements.set(roomKey(token.namespace, roomId), { pod: server.pod, at: now });
      }
      const signed = await signToken(
        server.key,
        {
          rid: roomId,
          uid: token.userId,
          ...(token.customerId ? { cid: token.customerId } : {}),
          nsp: token.namespace,
          adr: server.endpoint,
        },
        { audience: 'sfu' },
      );
      return { address: server.endpoint, token: signed };
    }
    const host = fleet.hostOf(token.namespace, roomId, now);
    if (!host) throw new RpcError(-32004, `room ${JSON.stringify(roomId)} is on no server`, 404);
    const banMs = typeof p.ban_time === 'number' ? p.ban_time * 1000 : 0;
    const bytes = (v: unknown) =>
      Array.isArray(v) ? Uint8Array.from(v as number[]) : new TextEncoder().encode(String(v ?? ''));
    const userId = typeof p.user_id === 'string' ? p.user_id : '';
    if (admin === 'roomclose') host.tasks.push(wireTask.roomClose(id, banMs));
    else if (admin === 'roomupdate') host.tasks.push(wireTask.roomUpdate(id, bytes(p.user_data)));
    else if (admin === 'roombanclient') {
      if (!userId) throw new RpcError(-32602, 'params.user_id: required');
      host.tasks.push(wireTask.roomBanClient(id, userId, banMs));
    } else host.tasks.push(wireTask.roomSendMessage(id, userId, bytes(p.message)));
    return { queued: true, server: host.endpoint };
  }
}

function sameRoom(a: RoomIdWire, b: RoomIdWire): boolean {
  return a[0] === b[0] && a[1] === b[1];
}

const ageMs = (age: { secs: number; nanos: number }) => age.secs * 1000 + age.nanos / 1e6;

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
