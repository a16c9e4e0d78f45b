/**
 * What certificate a server presents to a *new* handshake, as SHA-256 of its DER (hex): over
 * TLS (the `[http]` listener) and over QUIC (the `[quic]` listener). Certificates are not
 * verified: the point is to see which one is served.
 */
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { connect as tlsConnect } from 'node:tls';
import { connectWebTransport } from '../../client/quic/webTransportClient.ts';

export const sha256Hex = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');

/** SHA-256 of a PEM certificate's DER. */
export const pemFingerprint = (pem: string): string => sha256Hex(new X509Certificate(pem).raw);

export async function tlsFingerprint(host: string, port: number): Promise<string> {
  const socket = tlsConnect({ host, port, servername: 'localhost', rejectUnauthorized: false });
  try {
    await once(socket, 'secureConnect');
    return sha256Hex(socket.getPeerX509Certificate()!.raw);
  } finally {
    socket.destroy();
  }
}

export async function quicFingerprint(host: string, port: number): Promise<string> {
  const client = await connectWebTransport({ host, port, path: '/main', insecure: true });
  try {
    const chain = client.h3.quic.quiche.peerCertChain();
    assert.ok(chain?.[0], 'the server sent a certificate');
    return sha256Hex(chain[0]);
  } finally {
    await client.close();
  }
}
