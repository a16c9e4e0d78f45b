/** Shared helpers for the QUIC transport tests: a dev certificate, endpoints on loopback. */
import { createSocket, type Socket } from 'node:dgram';
import { createDevCertificate, type DevCertificate } from '../../../server/dev/certificate.ts';
import {
  NativeQuicClientEndpoint,
  type NativeQuicClientParams,
} from '../../../server/transports/quic/nativeClientEndpoint.ts';
import {
  NativeQuicEndpoint,
  type NativeQuicEndpointParams,
} from '../../../server/transports/quic/nativeEndpoint.ts';
import { CLIENT_RECEIVE_WINDOWS } from '../../../server/transports/quic/quiche.ts';

/** Either role's endpoint (lists of endpoints to close after a test). */
export type QuicEndpoint = NativeQuicEndpoint | NativeQuicClientEndpoint;

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
  params: Partial<NativeQuicEndpointParams> = {},
): Promise<NativeQuicEndpoint> {
  const cert = await testCertificate();
  return NativeQuicEndpoint.bind({
    host: '127.0.0.1',
    port: 0,
    certificatePem: cert.certificatePem,
    privateKeyPem: cert.privateKeyPem,
    alpn: ['h3'],
    idleTimeoutMs: 10_000,
    datagramRecvQueue: 256,
    datagramSendQueue: 256,
    receiveWindows: CLIENT_RECEIVE_WINDOWS,
    ...params,
  });
}

/** A client endpoint on loopback that trusts any certificate. */
export async function clientEndpoint(
  params: Partial<NativeQuicClientParams> = {},
): Promise<NativeQuicClientEndpoint> {
  return NativeQuicClientEndpoint.bind({
    host: '127.0.0.1',
    alpn: ['h3'],
    idleTimeoutMs: 10_000,
    keepAliveMs: 0,
    verifyPeer: false,
    datagramRecvQueue: 256,
    datagramSendQueue: 256,
    receiveWindows: CLIENT_RECEIVE_WINDOWS,
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

/**
 * A UDP relay between a client and `serverPort` on loopback, for what a network does to a
 * connection: rebind() moves the client to a new address as the server sees it (a NAT
 * rebinding), `blackhole` drops everything both ways, and the counters tell what passed.
 */
export async function udpRelay(serverPort: number) {
  const front = createSocket('udp4');
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  let client: { address: string; port: number } | undefined;
  let back: Socket;
  const relay = {
    port: 0,
    /** Datagrams passed server → client and client → server. */
    toClient: 0,
    toServer: 0,
    blackhole: false,
    async rebind() {
      const old = back;
      back = await openBack();
      old.close();
    },
    close() {
      front.close();
      back.close();
    },
  };
  const openBack = async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    socket.on('message', (message) => {
      if (client === undefined || relay.blackhole) return;
      relay.toClient++;
      front.send(message, client.port, client.address);
    });
    return socket;
  };
  back = await openBack();
  front.on('message', (message, remote) => {
    client = { address: remote.address, port: remote.port };
    if (relay.blackhole) return;
    relay.toServer++;
    back.send(message, serverPort, '127.0.0.1');
  });
  relay.port = front.address().port;
  return relay;
}
