/**
 * A Node WebTransport client over our own QUIC + HTTP/3 stack (the same modules the server
 * runs, in the client role): what Chromium's `new WebTransport(url)` does, for tests, bots and
 * the load generator. One QUIC connection per session, on its own UDP socket, or on a shared
 * native endpoint (`endpoint`: the load generator's thousands of sessions on one socket).
 *
 * QUIC runs in the addon of native/quic (docs/native-quic.md): without a built addon,
 * connecting throws NativeQuicUnavailable, which names the command that builds it.
 */

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import {
  CLIENT_RECEIVE_WINDOWS,
  type ConnectionCore,
  H3Connection,
  type H3ConnectionParams,
  NativeQuicClientEndpoint,
  type QuicConnection,
  type WebTransportDraft,
  type WebTransportSession,
} from '../../server/transports/quic/index.ts';
import { defaultServerName, type WebTransportSessionOptions } from './sessionOptions.ts';

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
  /** A native endpoint shared with other sessions (sharedClientEndpoint). */
  endpoint?: SharedClientEndpoint;
};

/** The server sent nothing back within `answerTimeoutMs`: UDP is probably blocked on the way. */
export class QuicUnansweredError extends Error {
  constructor(host: string, port: number, ms: number) {
    super(`no QUIC packet from ${host}:${port} within ${ms} ms (is UDP blocked?)`);
    this.name = 'QuicUnansweredError';
  }
}

export type WebTransportClient = {
  kind: 'quic';
  /** The session's endpoint (its own, or the shared one it was given). */
  endpoint: NativeQuicClientEndpoint;
  /** The same endpoint (load generator: voice sink, batched sends). */
  native: NativeQuicClientEndpoint;
  h3: H3Connection;
  session: WebTransportSession;
  close(code?: number, reason?: string): Promise<void>;
};

/**
 * ODIN_QUIC_CLIENT_ENGINE once picked the @matrixai/quic client; a run that still sets it would
 * measure the native client under the old name, so it is refused rather than ignored.
 */
function refuseRemovedEngine(): void {
  const engine = process.env.ODIN_QUIC_CLIENT_ENGINE;
  if (engine === undefined || engine === '' || engine === 'native') return;
  throw new Error(
    `ODIN_QUIC_CLIENT_ENGINE=${engine}: the @matrixai/quic client was removed, the QUIC client runs on the native addon only; unset the variable (docs/native-quic.md)`,
  );
}

/**
 * Opens a QUIC connection and a WebTransport session on it. A host name is resolved first
 * (node:dns `lookup`, every address, as the system's resolver orders them: `localhost` may be
 * ::1 and 127.0.0.1) and the session goes to whichever address completes the set-up first; the
 * TLS server name and `:authority` stay the host name. Trying them all at once, not in turn,
 * because a QUIC server that does not listen on one family is only noticed at a timeout.
 */
export async function connectWebTransport(options: WebTransportClientOptions): Promise<WebTransportClient> {
  refuseRemovedEngine();
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
  const localHost = options.localHost ?? defaultLocalHost(options.host);
  const keepAliveMs = options.keepAliveMs ?? 5_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  const endpoint =
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
  const shared = options.endpoint !== undefined;
  let quic: QuicConnection<ConnectionCore>;
  try {
    quic = endpoint.connect(options.host, options.port, serverName);
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
      endpoint,
      native: endpoint,
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
