/**
 * One UDP socket for every WebRTC peer (`webrtc_binding`, as the original server does).
 *
 * werift opens a socket per peer connection and has no mux of its own
 * (shinyoshiaki/werift-webrtc#650), so this sits in front of it: each peer connection gets a
 * `UdpMuxEndpoint`, and every datagram arriving on the shared socket is routed to one endpoint:
 *
 * - STUN requests (connectivity checks, consent) by the local part of USERNAME
 *   (RFC 8445 §7.2.2: "server-ufrag:client-ufrag"); the sender's address is then learned.
 * - STUN responses by the transaction id recorded when the endpoint sent the request
 *   (RFC 8489 §6.3.1: a response echoes the request's transaction id).
 * - Everything else (DTLS carrying SCTP, RFC 7983 first byte 20..63) by the sender's address
 *   learned from STUN.
 *
 * ICE-TCP connections (iceTcp.ts) join an endpoint as extra paths: the TCP listener finds the
 * endpoint by ufrag (`endpointForUfrag`) and attaches the connection; the endpoint then sends to
 * that connection's address over TCP, and werift above sees one transport either way.
 *
 * Hot path: DTLS datagrams cost two Map look-ups and no allocation. Garbage never throws; it
 * is counted and dropped. Maps are bounded: transaction ids expire, an endpoint keeps at most
 * `maxAddressesPerEndpoint` addresses, and closing an endpoint (or an ICE restart) removes
 * everything it registered.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import {
  datagramKind,
  isStunMessage,
  localUfragOfRequest,
  STUN_HEADER_LENGTH,
  stunClass,
  stunTransactionKey,
} from './stunHeader.ts';

/** The few pino methods used here; a pino `Logger` fits. */
export interface WebRtcLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface UdpMuxParams {
  /** IP to bind (`webrtc_binding` host): '0.0.0.0', '127.0.0.1', '::' … An IPv6 host binds udp6. */
  host: string;
  /** Port to bind (`webrtc_binding` port); 0 picks a free one (tests), see `address()`. */
  port: number;
  logger?: WebRtcLogger;
  /** How long a sent STUN request's transaction id is remembered. Default 30 s (RFC 8489 §6.2.1 Rc×RTO). */
  transactionTtlMs?: number;
  /** At most this many remembered transaction ids; the oldest go first. Default 65 536. */
  maxTransactions?: number;
  /** Remote addresses remembered per endpoint; the oldest go first. Default 8. */
  maxAddressesPerEndpoint?: number;
  /**
   * An endpoint that received traffic and then nothing for this long is reported idle
   * (`onIdle`). Browsers send a consent check every ~5 s (RFC 7675 §5.1). Default 30 s.
   */
  idleTimeoutMs?: number;
  /** Housekeeping period (expiry, idle detection). Default 5 s. */
  sweepIntervalMs?: number;
  /**
   * SO_RCVBUF / SO_SNDBUF of the shared socket. Every peer's traffic queues here while the event
   * loop is busy; the kernel default (~200 KiB) overflows at a few hundred datagrams. Linux caps
   * the value at net.core.rmem_max / wmem_max. Default 4 MiB each.
   */
  recvBufferSize?: number;
  sendBufferSize?: number;
}

export const defaultUdpMuxParams = {
  transactionTtlMs: 30_000,
  maxTransactions: 65_536,
  maxAddressesPerEndpoint: 8,
  idleTimeoutMs: 30_000,
  sweepIntervalMs: 5_000,
  recvBufferSize: 4 * 1024 * 1024,
  sendBufferSize: 4 * 1024 * 1024,
} as const;

export interface UdpMuxCounters {
  datagramsIn: number;
  datagramsOut: number;
  /** STUN requests routed by USERNAME. */
  routedByUfrag: number;
  /** STUN responses routed by transaction id. */
  routedByTransaction: number;
  /** DTLS (and other non-STUN) datagrams routed by the sender's address. */
  routedByAddress: number;
  /** Not STUN/DTLS/RTP by RFC 7983, or a malformed STUN header. */
  droppedGarbage: number;
  /** STUN requests whose USERNAME names no registered ufrag (or has none). */
  droppedUnknownUfrag: number;
  /** STUN responses to no remembered transaction, from an unknown address. */
  droppedUnknownTransaction: number;
  /** DTLS/RTP from an address no STUN check has introduced. */
  droppedUnknownAddress: number;
  /** Datagrams delivered to an endpoint whose receiver threw. */
  receiverErrors: number;
  sendErrors: number;
}

export interface UdpMuxSizes {
  endpoints: number;
  ufrags: number;
  addresses: number;
  transactions: number;
}

/** Named failures of the mux. */
export class UdpMuxError extends Error {
  readonly code: 'ufrag-in-use' | 'endpoint-closed' | 'mux-closed';
  constructor(code: UdpMuxError['code'], message: string) {
    super(message);
    this.name = 'UdpMuxError';
    this.code = code;
  }
}

// Symbols keep the endpoint ↔ mux plumbing off the public surface.
const sendSymbol = Symbol('send');
const registerUfragSymbol = Symbol('registerUfrag');
const unregisterUfragSymbol = Symbol('unregisterUfrag');
const forgetAddressSymbol = Symbol('forgetAddress');
const forgetTransactionSymbol = Symbol('forgetTransaction');
const removeEndpointSymbol = Symbol('removeEndpoint');
const receiverErrorSymbol = Symbol('receiverError');
const deliverSymbol = Symbol('deliver');
const transactionsSymbol = Symbol('transactions');
const addressesSymbol = Symbol('addresses');
const sweepSymbol = Symbol('sweep');
const endpointAccess = Symbol('endpointAccess');

type Receiver = (data: Buffer, host: string, port: number) => void;

/** Why an endpoint closed, as its TCP paths are told (their closure metric's reason). */
export type EndpointCloseCause =
  /** ICE, DTLS and SCTP did not come up within the session's connect timeout. */
  | 'not_connected'
  /** The client went silent (`idleTimeoutMs`). */
  | 'idle'
  /** The session ended for any other reason (the client left, the server closed it). */
  | 'ended';

/**
 * An ICE-TCP connection attached to an endpoint (iceTcp.ts). Datagrams the endpoint sends to
 * `host`:`port` go through it instead of the UDP socket.
 */
export interface EndpointTcpPath {
  readonly host: string;
  readonly port: number;
  /** Sends one datagram, framed (RFC 6544 §3). Never throws. */
  send(data: Buffer): void;
  /** Closes the connection because its endpoint closed. Idempotent. */
  close(cause: EndpointCloseCause): void;
}

interface TransactionEntry {
  endpoint: UdpMuxEndpoint;
  expiresAt: number;
}

function newCounters(): UdpMuxCounters {
  return {
    datagramsIn: 0,
    datagramsOut: 0,
    routedByUfrag: 0,
    routedByTransaction: 0,
    routedByAddress: 0,
    droppedGarbage: 0,
    droppedUnknownUfrag: 0,
    droppedUnknownTransaction: 0,
    droppedUnknownAddress: 0,
    receiverErrors: 0,
    sendErrors: 0,
  };
}

export class UdpMux {
  readonly #socket: Socket;
  readonly #params: Required<Omit<UdpMuxParams, 'logger'>>;
  readonly #logger: WebRtcLogger | undefined;
  readonly #counters = newCounters();
  readonly #endpoints = new Set<UdpMuxEndpoint>();
  readonly #byUfrag = new Map<string, UdpMuxEndpoint>();
  /** port → host → endpoint: no string building per datagram. */
  readonly #byAddress = new Map<number, Map<string, UdpMuxEndpoint>>();
  #addressCount = 0;
  /** Insertion-ordered, so the first key is the oldest. */
  readonly #transactions = new Map<string, TransactionEntry>();
  #sweepTimer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(socket: Socket, params: UdpMuxParams) {
    this.#socket = socket;
    this.#logger = params.logger;
    this.#params = {
      host: params.host,
      port: params.port,
      transactionTtlMs: params.transactionTtlMs ?? defaultUdpMuxParams.transactionTtlMs,
      maxTransactions: params.maxTransactions ?? defaultUdpMuxParams.maxTransactions,
      maxAddressesPerEndpoint: params.maxAddressesPerEndpoint ?? defaultUdpMuxParams.maxAddressesPerEndpoint,
      idleTimeoutMs: params.idleTimeoutMs ?? defaultUdpMuxParams.idleTimeoutMs,
      sweepIntervalMs: params.sweepIntervalMs ?? defaultUdpMuxParams.sweepIntervalMs,
      recvBufferSize: params.recvBufferSize ?? defaultUdpMuxParams.recvBufferSize,
      sendBufferSize: params.sendBufferSize ?? defaultUdpMuxParams.sendBufferSize,
    };
    socket.on('message', (data, rinfo) => this.#route(data, rinfo));
    socket.on('error', (error) => {
      this.#counters.sendErrors++;
      this.#logger?.warn({ err: error }, 'webrtc udp socket error');
    });
    this.#sweepTimer = setInterval(() => this.#sweep(), this.#params.sweepIntervalMs);
    this.#sweepTimer.unref();
  }

  /** Binds the shared socket; rejects (e.g. EADDRINUSE) with the binding in the message. */
  static async bind(params: UdpMuxParams): Promise<UdpMux> {
    const socket = createSocket({
      type: isIPv6(params.host) ? 'udp6' : 'udp4',
      recvBufferSize: params.recvBufferSize ?? defaultUdpMuxParams.recvBufferSize,
      sendBufferSize: params.sendBufferSize ?? defaultUdpMuxParams.sendBufferSize,
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => {
        socket.close();
        reject(new Error(`webrtc_binding ${params.host}:${params.port}: cannot bind UDP: ${error.message}`));
      };
      socket.once('error', onError);
      socket.bind({ address: params.host, port: params.port }, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    return new UdpMux(socket, params);
  }

  /** The bound address (the real port when bound to port 0). */
  address(): { address: string; port: number; family: 'IPv4' | 'IPv6' } {
    const info = this.#socket.address();
    return { address: info.address, port: info.port, family: info.family === 'IPv6' ? 'IPv6' : 'IPv4' };
  }

  get counters(): Readonly<UdpMuxCounters> {
    return { ...this.#counters };
  }

  get sizes(): UdpMuxSizes {
    return {
      endpoints: this.#endpoints.size,
      ufrags: this.#byUfrag.size,
      addresses: this.#addressCount,
      transactions: this.#transactions.size,
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The open endpoint that registered `ufrag` (ICE-TCP routes a connection's first check by it). */
  endpointForUfrag(ufrag: string): UdpMuxEndpoint | undefined {
    return this.#byUfrag.get(ufrag);
  }

  /** A route for one peer connection. Register its ufrag(s) before the peer's checks arrive. */
  createEndpoint(): UdpMuxEndpoint {
    if (this.#closed) throw new UdpMuxError('mux-closed', 'the WebRTC UDP mux is closed');
    const endpoint = new UdpMuxEndpoint(this, endpointAccess);
    this.#endpoints.add(endpoint);
    return endpoint;
  }

  /** Closes the socket and every endpoint. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    for (const endpoint of [...this.#endpoints]) endpoint.close();
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  // ---- hot path ----

  #route(data: Buffer, rinfo: RemoteInfo): void {
    const counters = this.#counters;
    counters.datagramsIn++;
    let endpoint: UdpMuxEndpoint | undefined;
    const kind = datagramKind(data);
    if (kind === 'stun') {
      endpoint = this.#routeStun(data, rinfo);
      if (endpoint === undefined) return;
    } else if (kind === 'other') {
      counters.droppedGarbage++;
      return;
    } else {
      endpoint = this.#byAddress.get(rinfo.port)?.get(rinfo.address);
      if (endpoint === undefined) {
        counters.droppedUnknownAddress++;
        return;
      }
      counters.routedByAddress++;
    }
    endpoint[deliverSymbol](data, rinfo.address, rinfo.port);
  }

  #routeStun(data: Buffer, rinfo: RemoteInfo): UdpMuxEndpoint | undefined {
    const counters = this.#counters;
    if (!isStunMessage(data)) {
      counters.droppedGarbage++;
      return undefined;
    }
    const cls = stunClass(data);
    if (cls === 'request') {
      const ufrag = localUfragOfRequest(data);
      const endpoint = ufrag === undefined ? undefined : this.#byUfrag.get(ufrag);
      if (endpoint === undefined) {
        counters.droppedUnknownUfrag++;
        return undefined;
      }
      this.#learnAddress(endpoint, rinfo.address, rinfo.port);
      counters.routedByUfrag++;
      return endpoint;
    }
    if (cls === 'success' || cls === 'error') {
      const key = stunTransactionKey(data);
      const entry = this.#transactions.get(key);
      if (entry !== undefined) {
        this.#transactions.delete(key);
        entry.endpoint[transactionsSymbol].delete(key);
        counters.routedByTransaction++;
        return entry.endpoint;
      }
    }
    // Indications (keep-alives) and late responses: by address, like DTLS.
    const endpoint = this.#byAddress.get(rinfo.port)?.get(rinfo.address);
    if (endpoint === undefined) {
      if (cls === 'indication') counters.droppedUnknownAddress++;
      else counters.droppedUnknownTransaction++;
      return undefined;
    }
    counters.routedByAddress++;
    return endpoint;
  }

  // ---- called by endpoints (through endpointAccess) ----

  [sendSymbol](endpoint: UdpMuxEndpoint, data: Buffer, host: string, port: number): void {
    if (this.#closed) return;
    // Remember our own STUN requests so that their responses find their way back.
    if (
      data.length >= STUN_HEADER_LENGTH &&
      data[0]! <= 3 &&
      isStunMessage(data) &&
      stunClass(data) === 'request'
    ) {
      this.#rememberTransaction(endpoint, stunTransactionKey(data));
    }
    this.#counters.datagramsOut++;
    this.#socket.send(data, port, host);
  }

  [registerUfragSymbol](endpoint: UdpMuxEndpoint, ufrag: string): void {
    const owner = this.#byUfrag.get(ufrag);
    if (owner !== undefined && owner !== endpoint) {
      throw new UdpMuxError('ufrag-in-use', `ICE ufrag ${ufrag} is already registered on the WebRTC UDP mux`);
    }
    this.#byUfrag.set(ufrag, endpoint);
  }

  [unregisterUfragSymbol](endpoint: UdpMuxEndpoint, ufrag: string): void {
    if (this.#byUfrag.get(ufrag) === endpoint) this.#byUfrag.delete(ufrag);
  }

  [forgetAddressSymbol](endpoint: UdpMuxEndpoint, host: string, port: number): void {
    const hosts = this.#byAddress.get(port);
    if (hosts?.get(host) !== endpoint) return;
    hosts.delete(host);
    this.#addressCount--;
    if (hosts.size === 0) this.#byAddress.delete(port);
  }

  [forgetTransactionSymbol](key: string): void {
    this.#transactions.delete(key);
  }

  [removeEndpointSymbol](endpoint: UdpMuxEndpoint): void {
    this.#endpoints.delete(endpoint);
  }

  [receiverErrorSymbol](): void {
    this.#counters.receiverErrors++;
  }

  // ---- bookkeeping ----

  #learnAddress(endpoint: UdpMuxEndpoint, host: string, port: number): void {
    let hosts = this.#byAddress.get(port);
    const current = hosts?.get(host);
    if (current === endpoint) return;
    if (current !== undefined) {
      // The address moved to another connection (a NAT reused the port, or a new session of the
      // same client): the latest authenticated-by-ufrag sender wins.
      current[addressesSymbol].delete(port, host);
      hosts!.delete(host);
      this.#addressCount--;
    }
    if (hosts === undefined) {
      hosts = new Map();
      this.#byAddress.set(port, hosts);
    }
    hosts.set(host, endpoint);
    this.#addressCount++;
    const evicted = endpoint[addressesSymbol].add(port, host, this.#params.maxAddressesPerEndpoint);
    if (evicted !== undefined) this[forgetAddressSymbol](endpoint, evicted.host, evicted.port);
  }

  #rememberTransaction(endpoint: UdpMuxEndpoint, key: string): void {
    const transactions = this.#transactions;
    // A retransmission reuses the transaction id (RFC 8489 §6.2.1): refresh it.
    const existing = transactions.get(key);
    if (existing !== undefined) {
      transactions.delete(key);
      existing.endpoint[transactionsSymbol].delete(key);
    }
    while (transactions.size >= this.#params.maxTransactions) {
      const oldest = transactions.keys().next();
      if (oldest.done) break;
      transactions.get(oldest.value)?.endpoint[transactionsSymbol].delete(oldest.value);
      transactions.delete(oldest.value);
    }
    transactions.set(key, { endpoint, expiresAt: Date.now() + this.#params.transactionTtlMs });
    endpoint[transactionsSymbol].add(key);
  }

  #sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.#transactions) {
      // Insertion order is expiry order (same TTL for all).
      if (entry.expiresAt > now) break;
      this.#transactions.delete(key);
      entry.endpoint[transactionsSymbol].delete(key);
    }
    for (const endpoint of this.#endpoints) endpoint[sweepSymbol](now, this.#params.idleTimeoutMs);
  }
}

/** The remote addresses of one endpoint, oldest first. */
class AddressList {
  readonly #ports: number[] = [];
  readonly #hosts: string[] = [];

  get size(): number {
    return this.#ports.length;
  }

  /** Adds an address; returns the evicted oldest one when over `max`. */
  add(port: number, host: string, max: number): { host: string; port: number } | undefined {
    this.#ports.push(port);
    this.#hosts.push(host);
    if (this.#ports.length <= max) return undefined;
    return { port: this.#ports.shift()!, host: this.#hosts.shift()! };
  }

  delete(port: number, host: string): void {
    for (let i = 0; i < this.#ports.length; i++) {
      if (this.#ports[i] === port && this.#hosts[i] === host) {
        this.#ports.splice(i, 1);
        this.#hosts.splice(i, 1);
        return;
      }
    }
  }

  drain(): Array<{ host: string; port: number }> {
    const all = this.#ports.map((port, i) => ({ port, host: this.#hosts[i]! }));
    this.#ports.length = 0;
    this.#hosts.length = 0;
    return all;
  }
}

/**
 * One peer connection's share of the mux: its ufrags, the remote addresses learned for it, the
 * transaction ids of its outstanding STUN requests.
 */
export class UdpMuxEndpoint {
  readonly #mux: UdpMux;
  readonly #ufrags = new Set<string>();
  #receiver: Receiver | undefined;
  #closed = false;
  #datagramsIn = 0;
  #datagramsAtLastSweep = 0;
  #silentSince = 0;
  #idleReported = false;
  /** Attached ICE-TCP connections; almost always none or one, so a scan beats a Map. */
  readonly #tcpPaths: EndpointTcpPath[] = [];
  /** The TCP path the latest non-STUN (DTLS) datagram came through; undefined: UDP. */
  #dataPath: EndpointTcpPath | undefined;
  /** The TCP path that delivered anything last (browsers check consent on the selected one). */
  #lastHeardPath: EndpointTcpPath | undefined;
  /**
   * Addresses of this endpoint's closed TCP paths, newest last (at most 8). werift (ICE-lite)
   * keeps the first pair the client nominated; a browser that switches to another TCP
   * connection and closes the first would otherwise have werift's DTLS go out on UDP.
   */
  readonly #retiredTcp: { host: string; port: number }[] = [];
  /** Called once when traffic stopped for `idleTimeoutMs` after having started. */
  onIdle: (() => void) | undefined;
  /** Called when the TCP connection carrying DTLS closed: nothing else reaches the client. */
  onDataPathClosed: (() => void) | undefined;
  readonly [transactionsSymbol] = new Set<string>();
  readonly [addressesSymbol] = new AddressList();

  /** @internal use `UdpMux.createEndpoint()` */
  constructor(mux: UdpMux, access: symbol) {
    if (access !== endpointAccess) throw new TypeError('use UdpMux.createEndpoint()');
    this.#mux = mux;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get ufrags(): readonly string[] {
    return [...this.#ufrags];
  }

  get datagramsIn(): number {
    return this.#datagramsIn;
  }

  get addressCount(): number {
    return this[addressesSymbol].size;
  }

  /** The transport the client's DTLS arrived on last: what its voice travels over. */
  get transport(): 'udp' | 'tcp' {
    return this.#dataPath === undefined ? 'udp' : 'tcp';
  }

  get tcpPathCount(): number {
    return this.#tcpPaths.length;
  }

  /**
   * Adds an ICE-TCP connection (its client sent a check naming one of our ufrags). False when
   * the endpoint is closed or already holds `maxPaths` connections.
   */
  attachTcpPath(path: EndpointTcpPath, maxPaths: number): boolean {
    if (this.#closed || this.#tcpPaths.length >= maxPaths) return false;
    this.#tcpPaths.push(path);
    return true;
  }

  /**
   * The connection closed (client or server side). Datagrams werift still sends to its address
   * go to the client's remaining TCP connection, if it has one (same ICE agent at the other
   * end: a browser accepts data on any of its connections); without one, the session is told.
   */
  detachTcpPath(path: EndpointTcpPath): void {
    const index = this.#tcpPaths.indexOf(path);
    if (index < 0) return;
    this.#tcpPaths.splice(index, 1);
    this.#retiredTcp.push({ host: path.host, port: path.port });
    if (this.#retiredTcp.length > 8) this.#retiredTcp.shift();
    if (this.#lastHeardPath === path) this.#lastHeardPath = undefined;
    if (this.#dataPath === path) {
      this.#dataPath = this.#tcpPaths.at(-1);
      if (this.#dataPath === undefined && !this.#closed) this.onDataPathClosed?.();
    }
  }

  /** A frame read from an attached TCP connection; routed as a datagram from its address. */
  deliverTcp(path: EndpointTcpPath, data: Buffer): void {
    if (this.#closed) return;
    if (data[0]! > 3) this.#dataPath = path;
    this.#lastHeardPath = path;
    this.#deliver(data, path.host, path.port);
  }

  /** Where datagrams for this endpoint go (werift's transport). One receiver at a time. */
  setReceiver(receiver: Receiver | undefined): void {
    this.#receiver = receiver;
  }

  /** Routes STUN requests naming `ufrag` here. Throws `UdpMuxError('ufrag-in-use')` on a clash. */
  addUfrag(ufrag: string): void {
    if (this.#closed) throw new UdpMuxError('endpoint-closed', 'the WebRTC mux endpoint is closed');
    this.#mux[registerUfragSymbol](this, ufrag);
    this.#ufrags.add(ufrag);
  }

  /**
   * ICE restart (RFC 8445 §9): the new local ufrag replaces the old ones, and the addresses
   * learned under them are forgotten until the peer's new checks introduce them again.
   */
  restartIce(ufrag: string): void {
    if (this.#closed) throw new UdpMuxError('endpoint-closed', 'the WebRTC mux endpoint is closed');
    if (this.#ufrags.has(ufrag)) return;
    this.#mux[registerUfragSymbol](this, ufrag);
    for (const old of this.#ufrags) this.#mux[unregisterUfragSymbol](this, old);
    this.#ufrags.clear();
    this.#ufrags.add(ufrag);
    this.forgetAddresses();
  }

  forgetAddresses(): void {
    for (const { host, port } of this[addressesSymbol].drain())
      this.#mux[forgetAddressSymbol](this, host, port);
  }

  /** Sends one datagram: over the TCP connection from `host`:`port` if one is attached, else UDP. Never throws. */
  send(data: Buffer, host: string, port: number): void {
    if (this.#closed) return;
    const paths = this.#tcpPaths;
    for (let i = 0; i < paths.length; i++) {
      const path = paths[i]!;
      // A UDP and a TCP path of one client with the same address and port number (rare) share
      // werift's candidate: TCP wins, as only the TCP side is known to be reachable then.
      if (path.port === port && path.host === host) {
        path.send(data);
        return;
      }
    }
    if (this.#retiredTcp.length !== 0 && this.#isRetiredTcp(host, port)) {
      (this.#dataPath ?? this.#lastHeardPath ?? paths.at(-1))?.send(data);
      return;
    }
    this.#mux[sendSymbol](this, data, host, port);
  }

  #isRetiredTcp(host: string, port: number): boolean {
    for (const retired of this.#retiredTcp) if (retired.port === port && retired.host === host) return true;
    return false;
  }

  /** Removes everything this endpoint registered and closes its TCP paths. Idempotent. */
  close(cause: EndpointCloseCause = 'ended'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dataPath = undefined;
    this.#lastHeardPath = undefined;
    for (const path of this.#tcpPaths.splice(0)) path.close(cause);
    for (const ufrag of this.#ufrags) this.#mux[unregisterUfragSymbol](this, ufrag);
    this.#ufrags.clear();
    this.forgetAddresses();
    for (const key of this[transactionsSymbol]) this.#mux[forgetTransactionSymbol](key);
    this[transactionsSymbol].clear();
    this.#mux[removeEndpointSymbol](this);
    this.#receiver = undefined;
    this.onIdle = undefined;
    this.onDataPathClosed = undefined;
  }

  /** A datagram from the shared UDP socket. */
  [deliverSymbol](data: Buffer, host: string, port: number): void {
    if (this.#dataPath !== undefined && data[0]! > 3) this.#dataPath = undefined;
    this.#deliver(data, host, port);
  }

  #deliver(data: Buffer, host: string, port: number): void {
    this.#datagramsIn++;
    const receiver = this.#receiver;
    if (receiver === undefined) return;
    try {
      receiver(data, host, port);
    } catch {
      // werift's own UdpTransport swallows receiver errors the same way; one bad datagram must
      // not take the shared socket down.
      this.#mux[receiverErrorSymbol]();
    }
  }

  [sweepSymbol](now: number, idleTimeoutMs: number): void {
    if (this.#datagramsIn !== this.#datagramsAtLastSweep) {
      this.#datagramsAtLastSweep = this.#datagramsIn;
      this.#silentSince = now;
      return;
    }
    if (this.#datagramsIn === 0 || this.#idleReported) return;
    if (now - this.#silentSince >= idleTimeoutMs) {
      this.#idleReported = true;
      this.onIdle?.();
    }
  }
}
