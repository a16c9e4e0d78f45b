/**
 * A Node WebTransport client over HTTP/2 (draft-ietf-webtrans-http2): the fallback of
 * odinQuicClient.ts when QUIC does not answer (UDP blocked). TLS with ALPN `h2` only (so the
 * `[http]` listener, which keeps browsers on HTTP/1.1, hands the connection to its WebTransport
 * part), SETTINGS_ENABLE_CONNECT_PROTOCOL from the server awaited, then an extended CONNECT
 * (RFC 8441) `:protocol webtransport` on `path`; the session inside the CONNECT stream is the
 * server's own H2WebTransportSession in the client role.
 */
import http2 from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import {
  connectStreamSink,
  H2_SETTING_IDS,
  H2WebTransportSession,
  h2PeerLimits,
  h2Settings,
  parseWebTransportInit,
  webTransportInitHeader,
} from '../../server/transports/quic/index.ts';
import { defaultServerName, type WebTransportSessionOptions } from './sessionOptions.ts';

export type WebTransportH2ClientOptions = WebTransportSessionOptions;

export type WebTransportH2Client = {
  kind: 'http2';
  connection: http2.ClientHttp2Session;
  session: H2WebTransportSession;
  close(code?: number, reason?: string): Promise<void>;
};

/** Largest capsule the client accepts from the server (a big RPC answer is split by the server anyway). */
const MAX_CAPSULE_BYTES = 1024 * 1024;
const LOCAL_LIMITS = {
  maxData: 16 * 1024 * 1024,
  maxStreamsBidi: 16,
  maxStreamsUni: 16,
  maxStreamData: 4 * 1024 * 1024,
};

export async function connectWebTransportH2(
  options: WebTransportH2ClientOptions,
): Promise<WebTransportH2Client> {
  const serverName = defaultServerName(options);
  const timeoutMs = options.timeoutMs ?? 5_000;
  const tlsOptions = {
    host: options.host,
    port: options.port,
    servername: serverName,
    ALPNProtocols: ['h2'],
    rejectUnauthorized: options.insecure !== true,
    ...(options.caPem === undefined ? {} : { ca: options.caPem }),
  };
  const connection = http2.connect(
    `https://${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`,
    {
      ...tlsOptions,
      // Our own TLS socket, so that voice does not wait for Nagle's algorithm (Node's http2 does
      // not let a session's socket be changed once it runs).
      createConnection: () => tlsConnect(tlsOptions).setNoDelay(true),
      settings: h2Settings(LOCAL_LIMITS),
      remoteCustomSettings: [...H2_SETTING_IDS],
    } as http2.SecureClientSessionOptions,
  );
  let timer: NodeJS.Timeout | undefined;
  let ping: NodeJS.Timeout | undefined;
  try {
    const session = await Promise.race([
      open(connection, options, serverName),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `WebTransport over HTTP/2 to ${options.host}:${options.port} not set up within ${timeoutMs} ms`,
              ),
            ),
          timeoutMs,
        );
      }),
    ]);
    const keepAliveMs = options.keepAliveMs ?? 5_000;
    if (keepAliveMs > 0) {
      ping = setInterval(() => {
        if (!connection.closed && !connection.destroyed) connection.ping(() => {});
      }, keepAliveMs);
      ping.unref();
    }
    connection.on('close', () => clearInterval(ping));
    return {
      kind: 'http2',
      connection,
      session,
      close: async (code = 0, reason = '') => {
        clearInterval(ping);
        session.close(code, reason);
        await new Promise<void>((resolve) => {
          if (connection.closed || connection.destroyed) return resolve();
          connection.close(() => resolve());
          setTimeout(() => {
            connection.destroy();
            resolve();
          }, 200).unref();
        });
      },
    };
  } catch (error) {
    connection.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function open(
  connection: http2.ClientHttp2Session,
  options: WebTransportH2ClientOptions,
  serverName: string,
): Promise<H2WebTransportSession> {
  return new Promise((resolve, reject) => {
    connection.once('error', reject);
    connection.once('close', () => reject(new Error('the HTTP/2 connection closed during setup')));
    connection.once('remoteSettings', (settings) => {
      // Draft section 3.1: no WebTransport request before the server's extended CONNECT support.
      if (settings.enableConnectProtocol !== true) {
        reject(
          new Error(
            `${options.host}:${options.port} does not announce SETTINGS_ENABLE_CONNECT_PROTOCOL: no WebTransport over HTTP/2 there`,
          ),
        );
        return;
      }
      const stream = connection.request(
        {
          ':method': 'CONNECT',
          ':protocol': 'webtransport',
          ':scheme': 'https',
          ':path': options.path,
          ':authority': `${serverName}:${options.port}`,
          'webtransport-init': webTransportInitHeader(LOCAL_LIMITS),
        },
        { endStream: false },
      );
      stream.on('error', () => {});
      const session = new H2WebTransportSession({
        role: 'client',
        remoteAddress: `${options.host}:${options.port}`,
        local: LOCAL_LIMITS,
        // The server's SETTINGS_WT_INITIAL_*; its capsules and WebTransport-Init may raise them.
        peer: h2PeerLimits(connection, undefined),
        maxCapsuleBytes: MAX_CAPSULE_BYTES,
        sink: connectStreamSink(stream),
      });
      // Optimistic (draft section 3.2): our limits travel with the request.
      session.start();
      stream.on('data', (chunk: Buffer) => session.receive(chunk));
      stream.on('end', () => session.receiveEnd());
      stream.on('close', () => session.abort('CONNECT stream closed'));
      stream.once('response', (headers) => {
        const status = Number(headers[':status']);
        if (status < 200 || status > 299) {
          reject(new Error(`WebTransport over HTTP/2 refused: status ${status}`));
          return;
        }
        const init = headers['webtransport-init'];
        session.raisePeerStreamLimit(parseWebTransportInit(typeof init === 'string' ? init : undefined));
        connection.off('error', reject);
        resolve(session);
      });
    });
  });
}
