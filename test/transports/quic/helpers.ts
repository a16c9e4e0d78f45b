/** Shared helpers for the QUIC transport tests: a dev certificate, endpoints on loopback. */
import { createSocket } from 'node:dgram';
import { createDevCertificate, type DevCertificate } from '../../../server/dev/certificate.ts';
import { QuicEndpoint, type QuicEndpointParams } from '../../../server/transports/quic/endpoint.ts';
import {
  CLIENT_RECEIVE_WINDOWS,
  createQuicheConfig,
  type ReceiveWindows,
} from '../../../server/transports/quic/quiche.ts';

let certificate: Promise<DevCertificate> | undefined;

/** One certificate per test process (generating one takes a few ms). */
export function testCertificate(): Promise<DevCertificate> {
  certificate ??= createDevCertificate(['localhost', '127.0.0.1']);
  return certificate;
}

/**
 * A server endpoint on loopback. Its receive windows default to the generous client ones: these
 * tests move megabytes through a bare endpoint; the [quic] listener's small windows
 * (SERVER_RECEIVE_WINDOWS) are tested through the listener.
 */
export async function serverEndpoint(
  params: Partial<QuicEndpointParams> & {
    alpn?: string[];
    idleTimeoutMs?: number;
    receiveWindows?: ReceiveWindows;
  } = {},
): Promise<QuicEndpoint> {
  const cert = await testCertificate();
  return QuicEndpoint.bind({
    host: '127.0.0.1',
    port: 0,
    role: 'server',
    config: createQuicheConfig({
      certificatePem: cert.certificatePem,
      privateKeyPem: cert.privateKeyPem,
      alpn: params.alpn ?? ['h3'],
      idleTimeoutMs: params.idleTimeoutMs ?? 10_000,
      disableActiveMigration: params.migration === false,
      verifyPeer: false,
      datagramRecvQueue: 256,
      datagramSendQueue: 256,
      receiveWindows: params.receiveWindows ?? CLIENT_RECEIVE_WINDOWS,
    }),
    ...params,
  });
}

export async function clientEndpoint(
  params: Partial<QuicEndpointParams> & { alpn?: string[]; idleTimeoutMs?: number } = {},
): Promise<QuicEndpoint> {
  return QuicEndpoint.bind({
    host: '127.0.0.1',
    port: 0,
    role: 'client',
    config: createQuicheConfig({
      alpn: params.alpn ?? ['h3'],
      idleTimeoutMs: params.idleTimeoutMs ?? 10_000,
      disableActiveMigration: false,
      verifyPeer: false,
      datagramRecvQueue: 256,
      datagramSendQueue: 256,
    }),
    ...params,
  });
}

/** A free UDP port on loopback (the grid binds it right after). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}
export { waitFor } from '../../helpers/waitFor.ts';
