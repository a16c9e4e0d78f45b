/**
 * A Node WebTransport client over our own QUIC + HTTP/3 stack (the same modules the server
 * runs, in the client role): what Chromium's `new WebTransport(url)` does, for tests, bots and
 * the load generator. One QUIC connection per session, on its own UDP socket, or on a shared
 * native endpoint (`endpoint`: the load generator's thousands of sessions on one socket).
 *
 * QUIC engine (`engine`): `native`, the addon of native/quic (docs/native-quic.md), whenever it
 * is built; otherwise `matrixai` (the @matrixai/quic binding, in JavaScript's event loop), so a
 * checkout without the Rust build still has a client. ODIN_QUIC_CLIENT_ENGINE overrides the
 * default.
 */

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import {
  CLIENT_RECEIVE_WINDOWS,
  createQuicheConfig,
  H3Connection,
  type H3ConnectionParams,
  NativeQuicClientEndpoint,
  nativeAddonBuilt,
  QuicEndpoint,
  type QuicEndpointStats,
  type WebTransportDraft,
  type WebTransportSession,
} from '../../server/transports/quic/index.ts';
import type { ConnectionCore, QuicConnection } from '../../server/transports/quic/quicConnection.ts';
import { defaultServerName, type WebTransportSessionOptions } from './sessionOptions.ts';

export type QuicClientEngine = 'native' | 'matrixai';

/** The engine a client uses when not told: ODIN_QUIC_CLIENT_ENGINE, else native if built. */
export function defaultClientEngine(): QuicClientEngine {
  const forced = process.env.ODIN_QUIC_CLIENT_ENGINE;
  if (forced === 'native' || forced === 'matrixai') return forced;
  if (forced !== undefined && forced !== '')
    throw new Error(`ODIN_QUIC_CLIENT_ENGINE=${forced}: expected native or matrixai`);
  return nativeAddonBuilt() ? 'native' : 'matrixai';
}

/** A native client endpoint several sessions share (one socket); see `sharedClientEndpoint`. */
export type SharedClientEndpoint = NativeQuicClientEndpoint;

/**
 * One native endpoint for many sessions (the load generator): binds `localHost`, verifies
 * certificates unless `insecure`. Sessions given it (`endpoint`) close only their connection;
 * the owner closes the endpoint.
 */
export function sharedClientEndpoint(
  options: Pick<WebTransportClientOptions, 'insecure' | 'caPem' | 'idleTimeoutMs' | 'keepAliveMs'> & {
    localHost?: string;
  } = {},
): SharedClientEndpoint {
  return NativeQuicClientEndpoint.bind({
    host: options.localHost ?? '127.0.0.1',
    alpn: ['h3'],
    idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
    keepAliveMs: options.keepAliveMs ?? 5_000,
    verifyPeer: options.insecure !== true,
    ...(options.caPem === undefined ? {} : { caPem: options.caPem }),
    receiveWindows: CLIENT_RECEIVE_WINDOWS,
    // Thousands of connections on one socket: room for bursts of all of them.
    socketBufferBytes: 16 * 1024 * 1024,
  });
}

export type WebTransportClientOptions = WebTransportSessionOptions & {
  idleTimeoutMs?: number;
  /**
   * Local address to bind; default the loopback address of a loopback server's family,
   * else the unspecified one (0.0.0.0 or ::).
   */
  localHost?: string;
  /**
   * WebTransport draft: `draft02` (default, what Chromium speaks) or `current`
   * (draft-ietf-webtrans-http3-15/16: `webtransport-h3`, SETTINGS_WT_ENABLED, session flow control).
   */
  draft?: WebTransportDraft;
  /** Current draft: the per-session limits this client grants the server (tests of flow control). */
  flowLimits?: H3ConnectionParams['flowLimits'];
  /**
   * Give up with QuicUnansweredError when not a single packet came back from the server this
   * long after the first Initial (UDP blocked, nothing listening): what the HTTP/2 fallback
   * waits for (odinQuicClient.ts). A server that answers gets the whole `timeoutMs`.
   */
  answerTimeoutMs?: number;
  /** QUIC engine; default `defaultClientEngine()` (native when the addon is built). */
  engine?: QuicClientEngine;
  /** A native endpoint shared with other sessions (sharedClientEndpoint); implies `native`. */
  endpoint?: SharedClientEndpoint;
};

/** The server sent nothing back within `answerTimeoutMs`: UDP is probably blocked on the way. */
export class QuicUnansweredError extends Error {
  constructor(host: string, port: number, ms: number) {
    super(`no QUIC packet from ${host}:${port} within ${ms} ms (is UDP blocked?)`);
    this.name = 'QuicUnansweredError';
  }
}

/** What a session's QUIC endpoint offers its user, on either engine. */
export type ClientQuicEndpoint = { readonly stats: QuicEndpointStats; close(): Promise<void> };

export type WebTransportClient = {
  kind: 'quic';
  engine: QuicClientEngine;
  endpoint: ClientQuicEndpoint;
  /** The native endpoint (load generator: voice sink, batched sends); undefined on matrixai. */
  native: NativeQuicClientEndpoint | undefined;
  h3: H3Connection;
  session: WebTransportSession;
  close(code?: number, reason?: string): Promise<void>;
};

/**
 * Opens a QUIC connection and a WebTransport session on it. A host name is resolved first
 * (node:dns `lookup`, every address, as the system's resolver orders them: `localhost` may be
 * ::1 and 127.0.0.1) and the session goes to whichever address completes the set-up first; the
 * TLS server name and `:authority` stay the host name. Trying them all at once, not in turn,
 * because a QUIC server that does not listen on one family is only noticed at a timeout.
 */
export async function connectWebTransport(options: WebTransportClientOptions): Promise<WebTransportClient> {
  const serverName = defaultServerName(options);
  if (isIP(options.host) !== 0) return connectToAddress(options, serverName);
  const addresses = (await lookup(options.host, { all: true })).map((entry) => entry.address);
  if (addresses.length === 1) return connectToAddress({ ...options, host: addresses[0]! }, serverName);
  const abort = new AbortController();
  const attempts = addresses.map((host) => connectToAddress({ ...options, host }, serverName, abort.signal));
  try {
    const winner = await Promise.any(attempts);
    abort.abort();
    for (const attempt of attempts) {
      attempt.then(
        (other) => (other === winner ? undefined : other.close()),
        () => {},
      );
    }
    return winner;
  } catch (error) {
    // Every address failed: the most telling error, and QuicUnansweredError only when that is
    // all there was (the HTTP/2 fallback of odinQuicClient.ts waits for exactly that).
    const errors = (error as AggregateError).errors as Error[];
    throw errors.find((e) => !(e instanceof QuicUnansweredError)) ?? errors[0]!;
  }
}

/** A loopback server is reached from loopback; anything else from any local address. */
function defaultLocalHost(remote: string): string {
  if (remote.includes(':')) return remote === '::1' ? '::1' : '::';
  return remote.startsWith('127.') ? '127.0.0.1' : '0.0.0.0';
}

/** `connectWebTransport` to one IP address; `abort` ends the set-up (another address won). */
async function connectToAddress(
  options: WebTransportClientOptions,
  serverName: string,
  abort?: AbortSignal,
): Promise<WebTransportClient> {
  const engine = options.endpoint === undefined ? (options.engine ?? defaultClientEngine()) : 'native';
  const localHost = options.localHost ?? defaultLocalHost(options.host);
  const keepAliveMs = options.keepAliveMs ?? 5_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  let endpoint: ClientQuicEndpoint;
  let native: NativeQuicClientEndpoint | undefined;
  if (engine === 'native') {
    native =
      options.endpoint ??
      NativeQuicClientEndpoint.bind({
        host: localHost,
        alpn: ['h3'],
        idleTimeoutMs,
        keepAliveMs,
        verifyPeer: options.insecure !== true,
        ...(options.caPem === undefined ? {} : { caPem: options.caPem }),
        receiveWindows: CLIENT_RECEIVE_WINDOWS,
      });
    endpoint = native;
  } else {
    endpoint = await QuicEndpoint.bind({
      host: localHost,
      port: 0,
      role: 'client',
      config: createQuicheConfig({
        alpn: ['h3'],
        idleTimeoutMs,
        disableActiveMigration: false,
        verifyPeer: options.insecure !== true,
        ...(options.caPem === undefined ? {} : { caPem: options.caPem }),
        datagramRecvQueue: 1024,
        datagramSendQueue: 1024,
      }),
      keepAliveMs,
    });
  }
  const shared = options.endpoint !== undefined;
  let quic: QuicConnection<ConnectionCore>;
  try {
    quic = (native ?? (endpoint as QuicEndpoint)).connect(options.host, options.port, serverName);
  } catch (error) {
    // Refused at once (an address of the other family on a shared endpoint): the socket we
    // bound for this session only would keep the process alive.
    if (!shared) await endpoint.close();
    throw error;
  }
  let closedReason: string | undefined;
  let failSetup: ((error: Error) => void) | undefined;
  const h3 = new H3Connection({
    quic,
    role: 'client',
    webTransportDraft: options.draft ?? 'draft02',
    ...(options.flowLimits === undefined ? {} : { flowLimits: options.flowLimits }),
    onClosed: (info) => {
      closedReason = `${info.by}: ${info.reason || `code 0x${info.code.toString(16)}`}`;
      // A refused handshake (certificate, ALPN) ends setup now rather than at the timeout.
      failSetup?.(
        new Error(
          `WebTransport setup to ${options.host}:${options.port} failed: connection closed (${closedReason})`,
        ),
      );
    },
  });
  const timeoutMs = options.timeoutMs ?? 5_000;
  let timer: NodeJS.Timeout | undefined;
  let answerTimer: NodeJS.Timeout | undefined;
  try {
    const session = await Promise.race([
      h3.connectWebTransport(`${serverName}:${options.port}`, options.path),
      new Promise<never>((_, reject) => {
        failSetup = reject;
        abort?.addEventListener('abort', () =>
          reject(new Error('another address of the host answered first')),
        );
      }),
      new Promise<never>((_, reject) => {
        const answerMs = options.answerTimeoutMs;
        if (answerMs === undefined) return;
        answerTimer = setTimeout(() => {
          // A shared endpoint hears other connections: ask this one's handshake instead.
          if (shared ? !quic.established : endpoint.stats.packetsIn === 0)
            reject(new QuicUnansweredError(options.host, options.port, answerMs));
        }, answerMs);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `WebTransport setup to ${options.host}:${options.port} not done within ${timeoutMs} ms` +
                  (closedReason ? ` (connection closed: ${closedReason})` : ''),
              ),
            ),
          timeoutMs,
        );
      }),
    ]);
    return {
      kind: 'quic',
      engine,
      endpoint,
      native,
      h3,
      session,
      close: async (code = 0, reason = '') => {
        // The close capsule first, in its own flight: a CONNECTION_CLOSE in the same packet
        // would make the server drop the stream data before reading it.
        session.close(code, reason);
        await new Promise((resolve) => setTimeout(resolve, 20));
        h3.close();
        if (!shared) await endpoint.close();
      },
    };
  } catch (error) {
    if (shared) quic.close(false, 0, 'setup failed');
    else await endpoint.close();
    throw error;
  } finally {
    failSetup = undefined;
    clearTimeout(timer);
    clearTimeout(answerTimer);
  }
}
