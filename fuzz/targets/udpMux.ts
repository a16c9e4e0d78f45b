/**
 * The STUN/DTLS/RTP demultiplexer of the one WebRTC UDP port (server/transports/web/webrtc/
 * udpMux.ts, stunHeader.ts): every datagram anyone sends to `webrtc_binding` goes through
 * it. The mux is real and bound on loopback; datagrams are handed to its socket's `message`
 * listener directly (no network round trip per input), from fuzzed source ports. Findings:
 * an exception, and remembered state growing past its documented bounds.
 */

import type { RemoteInfo } from 'node:dgram';
import dgram from 'node:dgram';
import { syncBuiltinESMExports } from 'node:module';
import {
  datagramKind,
  isStunMessage,
  localUfragOfRequest,
  stunClass,
  stunTransactionKey,
} from '../../server/transports/web/webrtc/stunHeader.ts';
import { Cursor, invariant } from './cursor.ts';

// Capture the mux's socket: wrap createSocket for the one bind below (ESM named imports of
// builtins follow the CommonJS exports after syncBuiltinESMExports).
const original = dgram.createSocket;
let socket: dgram.Socket | undefined;
dgram.createSocket = ((...args: Parameters<typeof original>) => {
  socket = original(...args);
  return socket;
}) as typeof original;
syncBuiltinESMExports();
const { UdpMux, defaultUdpMuxParams } = await import('../../server/transports/web/webrtc/udpMux.ts');
const mux = await UdpMux.bind({ host: '127.0.0.1', port: 0 });
dgram.createSocket = original;
syncBuiltinESMExports();
const muxSocket = socket!;
// Fuzzing feeds the listener directly: the socket must not keep the process alive at the end.
muxSocket.unref();
const endpoint = mux.createEndpoint();
endpoint.addUfrag('fuzz');
endpoint.setReceiver(() => {});

/** Closes the mux (the corpus replay in node:test must not leave a socket open). */
export async function dispose(): Promise<void> {
  await mux.close();
}

export function fuzz(data: Buffer): void {
  const input = new Cursor(data);
  const port = 1 + (input.u16() % 64);
  const rinfo: RemoteInfo = { address: '127.0.0.1', family: 'IPv4', port, size: 0 };
  const datagram = Buffer.from(input.rest());
  rinfo.size = datagram.length;
  if (datagramKind(datagram) === 'stun' && isStunMessage(datagram)) {
    stunClass(datagram);
    stunTransactionKey(datagram);
    localUfragOfRequest(datagram);
  }
  muxSocket.emit('message', datagram, rinfo);
  const sizes = mux.sizes;
  invariant(sizes.addresses <= defaultUdpMuxParams.maxAddressesPerEndpoint, `addresses ${sizes.addresses}`);
  invariant(sizes.transactions <= defaultUdpMuxParams.maxTransactions, `transactions ${sizes.transactions}`);
}
