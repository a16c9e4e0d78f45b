/**
 * The built-in supervisor: the gateway protocol (ODIN-PROTOCOL.md section 5) served by the
 * operator, one fleet per OdinServer, on two listeners:
 *
 *   internal  POST /internal/<namespace>/<name>/<pod>   sfu.GridConfig, sfu.Report: only grid
 *             pods, each as itself (Bearer: its projected ServiceAccount token, podIdentity.ts)
 *   connect   POST /<namespace>/<name>                  Connect, RoomClose, RoomUpdate,
 *             RoomBanClient, RoomSendMessage (Bearer: a token signed with one of the fleet's
 *             access keys): the port a LoadBalancer exposes to game clients and backends
 *
 * Every request is authenticated from its headers before its body is read (http.ts bounds the
 * rest). A server's public endpoint, and so the key it gets, comes from the Pod/Service objects
 * (fleet.members, set by the controller), never from what the caller says. An unknown fleet and
 * a wrong token get the same 401. Only the leader answers (others: HTTP 503, which a server
 * treats as "supervisor down" and retries): one replica owns placement and the task queues.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { signToken, TokenError, TokenVerifier } from '../../common/auth/index.ts';
import type { RoomIdWire } from '../../common/gateway/protocol.ts';
import { ConfigError } from '../../server/config/index.ts';
import { AdminTokenError, verifyAdminToken, verifySignedByKeys } from './adminToken.ts';
import { chooseServer, Fleet, type PodMember, roomKey, type ServerEntry, SILENT_AFTER_MS } from './fleet.ts';
import { answerGridConfig, serverKeyFor } from './gridConfigAnswer.ts';
import {
  BodyBudget,
  close,
  defaultLimits,
  HttpError,
  type ListenerLimits,
  listen,
  pathSegments,
  readBody,
} from './http.ts';
import { IdentityError, type PodAuthenticator } from './podIdentity.ts';
import { parseReportParams, WireError, wireTask } from './wire.ts';

/** Body caps by endpoint: a report lists every room of a server; a Connect is a few hundred bytes. */
export const MAX_INTERNAL_BODY = 1 << 20;
export const MAX_CONNECT_BODY = 64 * 1024;
/** Request bodies held at once per listener: above it, 503 (the caller retries). */
export const BODY_BUDGET = 32 << 20;

export class RpcError extends Error {
  readonly code: number;
  readonly status: number;
  constructor(code: number, message: string, status = 200) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

export type Endpoint = { host: string; port: number };

export type SupervisorServerParams = {
  /** Listener of sfu.GridConfig / sfu.Report (grid pods). */
  internal?: Endpoint;
  /** Listener of Connect and the admin calls (clients, backends; a LoadBalancer). */
  connect?: Endpoint;
  limits?: Partial<ListenerLimits>;
  isLeader: () => boolean;
  /** Verifies grid pods' ServiceAccount tokens (TokenReview). */
  pods: PodAuthenticator;
  /** Called after each report (the controller refreshes status and autoscaling). */
  onReport?: (fleet: Fleet) => void;
  now?: () => number;
  random?: () => number;
  log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
};

export type SupervisorStats = { calls: Map<string, number> };

type Body = { id?: unknown; method?: unknown; params?: unknown };

export class SupervisorServer {
  readonly fleets = new Map<string, Fleet>();
  readonly stats: SupervisorStats = { calls: new Map() };
  readonly #params: SupervisorServerParams;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #limits: ListenerLimits;
  readonly #budgets = { internal: new BodyBudget(BODY_BUDGET), connect: new BodyBudget(BODY_BUDGET) };
  #servers: Server[] = [];

  constructor(params: SupervisorServerParams) {
    this.#params = params;
    this.#now = params.now ?? Date.now;
    this.#random = params.random ?? Math.random;
    this.#limits = { ...defaultLimits, ...params.limits };
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

  /** Opens both listeners; resolves with their ports. */
  async listen(): Promise<{ internal: number; connect: number }> {
    const onError = (error: unknown) =>
      this.#params.log?.('warn', 'supervisor request failed', { error: String(error) });
    const open = (
      at: Endpoint | undefined,
      handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
    ) => listen({ host: at?.host ?? '0.0.0.0', port: at?.port ?? 0, limits: this.#limits, handle, onError });
    const internal = await open(this.#params.internal, (req, res) => this.#handle('internal', req, res));
    this.#servers.push(internal.server);
    const connect = await open(this.#params.connect, (req, res) => this.#handle('connect', req, res));
    this.#servers.push(connect.server);
    return { internal: internal.port, connect: connect.port };
  }

  async close(): Promise<void> {
    const servers = this.#servers.splice(0);
    await Promise.all(servers.map((s) => close(s)));
  }

  #count(what: string): void {
    this.stats.calls.set(what, (this.stats.calls.get(what) ?? 0) + 1);
  }

  async #handle(listener: 'internal' | 'connect', req: IncomingMessage, res: ServerResponse): Promise<void> {
    let id: unknown = null;
    let method = '';
    // Errors before the body was read close the connection: its unread body is never read.
    let bodyRead = false;
    const reply = (status: number, body: unknown) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (!bodyRead) headers.connection = 'close';
      res.writeHead(status, headers).end(JSON.stringify(body));
    };
    try {
      if (req.method !== 'POST') throw new RpcError(-32600, 'POST only', 405);
      let segments: string[];
      try {
        segments = pathSegments(req.url);
      } catch (error) {
        throw new RpcError(-32600, (error as Error).message, 400);
      }
      const internal = listener === 'internal';
      if (internal ? segments[0] !== 'internal' || segments.length !== 4 : segments.length !== 2)
        throw new RpcError(-32601, 'no endpoint at this path', 404);
      if (!this.#params.isLeader()) throw new RpcError(-32000, 'not the leader: retry', 503);
      const bearer = /^Bearer ([!-~]+)$/.exec(req.headers.authorization ?? '')?.[1];
      // Authenticated from the headers alone, before a byte of body.
      const pod = internal
        ? await this.#authenticatePod(bearer, segments[1]!, segments[2]!, segments[3]!)
        : undefined;
      const client = internal ? undefined : this.#authenticateClient(bearer, segments[0]!, segments[1]!);
      let body: Body;
      try {
        const text = await readBody(
          req,
          internal ? MAX_INTERNAL_BODY : MAX_CONNECT_BODY,
          this.#budgets[listener],
        );
        bodyRead = true;
        body = JSON.parse(text) as Body;
        if (body === null || typeof body !== 'object') throw new Error('not an object');
      } catch (error) {
        if (error instanceof HttpError) throw new RpcError(-32600, error.message, error.status);
        throw new RpcError(-32700, 'parse error', 400);
      }
      id = body.id ?? null;
      method = typeof body.method === 'string' ? body.method : '';
      const result = pod
        ? this.#internal(pod.fleet, pod.pod, pod.member, method, body.params)
        : await this.#public(bearer!, client!.fleet, method, body.params);
      this.#count(`${method}:ok`);
      reply(200, { jsonrpc: '2.0', id, result });
    } catch (error) {
      this.#count(`${method || 'unknown'}:error`);
      if (!(error instanceof RpcError)) throw error;
      reply(error.status, { jsonrpc: '2.0', id, error: { code: error.code, message: error.message } });
    }
  }

  /** A grid pod of the fleet, as itself: its token names this pod (uid included). */
  async #authenticatePod(
    bearer: string | undefined,
    namespace: string,
    name: string,
    pod: string,
  ): Promise<{ fleet: Fleet; pod: string; member: PodMember }> {
    const fleet = this.fleets.get(`${namespace}/${name}`);
    const member = fleet?.members.get(pod);
    if (!bearer)
      throw new RpcError(-32001, "unauthorized: send the pod's ServiceAccount token as Bearer", 401);
    try {
      const identity = await this.#params.pods.authenticate(bearer, namespace, pod);
      if (!fleet?.credentials || !member || member.uid !== identity.uid)
        throw new IdentityError('the pod is not a server of this OdinServer');
    } catch (error) {
      if (!(error instanceof IdentityError)) throw error;
      throw new RpcError(-32001, `unauthorized: ${error.message}`, error.status);
    }
    return { fleet, pod, member };
  }

  /** A client or backend with a token signed by one of the fleet's access keys. */
  #authenticateClient(bearer: string | undefined, namespace: string, name: string): { fleet: Fleet } {
    if (!bearer) throw new RpcError(-32001, 'missing Authorization: Bearer <token>', 401);
    const fleet = this.fleets.get(`${namespace}/${name}`);
    try {
      // No fleet: the same answer as a token of a foreign key, so names cannot be probed.
      verifySignedByKeys(bearer, fleet?.credentials?.accessKeys ?? []);
    } catch (error) {
      if (error instanceof AdminTokenError)
        throw new RpcError(-32001, `token refused: ${error.message}`, 401);
      throw error;
    }
    return { fleet: fleet! };
  }

  #internal(fleet: Fleet, pod: string, member: PodMember, method: string, params: unknown): unknown {
    const now = this.#now();
    const credentials = fleet.credentials!;
    const { address, endpoint } = member;
    // HTTP 503: the server retries (e.g. a LoadBalancer Service still waiting for its ingress).
    if (!address || !endpoint)
      throw new RpcError(-32000, `the public address of pod ${pod} is not known yet: retry`, 503);
    if (method === 'sfu.GridConfig') {
      const p = params as { config?: unknown } | null;
      if (typeof p?.config !== 'string') throw new RpcError(-32602, 'params.config: expected a TOML string');
      let answer: ReturnType<typeof answerGridConfig>;
      try {
        answer = answerGridConfig({ localToml: p.config, masterKey: credentials.masterKey, address });
      } catch (error) {
        const message = error instanceof ConfigError ? error.message : (error as Error).message;
        throw new RpcError(-32602, `the merged config is not valid: ${message}`);
      }
      if (answer.endpoint !== endpoint)
        throw new RpcError(
          -32602,
          `the config announces ${answer.endpoint}, but pod ${pod} is reached at ${endpoint} ` +
            '(its Pod/Service objects): the config must not override the public address or listener ports',
        );
      const previous = fleet.servers.get(pod);
      fleet.servers.set(pod, { pod, endpoint, key: answer.key, tasks: previous?.tasks ?? [] });
      this.#params.log?.('info', 'sfu.GridConfig answered', { fleet: fleet.key, pod, endpoint });
      return { config: answer.config };
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
      // The endpoint is the one the operator computed; `public_endpoint` of the report is ignored.
      // A new leader (or a restarted operator) derives the same key from it.
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

  async #public(bearer: string, fleet: Fleet, method: string, params: unknown) {
    const p = (params !== null && typeof params === 'object' ? params : {}) as Record<string, unknown>;
    const now = this.#now();
    const admin = method.toLowerCase();
    const accessKeys = fleet.credentials!.accessKeys;
    let token: { namespace: string; roomIds: string[]; userId: string; customerId?: string };
    try {
      if (method === 'Connect') {
        const verifier = new TokenVerifier({ keys: accessKeys, allowUnsigned: false, leewayMs: 5000 });
        token = await verifier.verify(bearer, { audiences: ['gateway'] });
      } else if (['roomclose', 'roomupdate', 'roombanclient', 'roomsendmessage'].includes(admin)) {
        token = verifyAdminToken(bearer, accessKeys, admin, now);
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
