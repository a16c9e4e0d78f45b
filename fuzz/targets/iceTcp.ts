/**
 * The ICE-TCP listener of the WebRTC port (server/transports/web/webrtc/iceTcp.ts,
 * iceTcpFraming.ts): every byte anyone sends to `webrtc_binding` over TCP goes through its
 * RFC 6544 framing and the demultiplexing by ufrag. The listener and the UDP mux are real and
 * bound on loopback; each input is one connection, handed to the listener's `connection`
 * listener as a stand-in socket (no network round trip per input) and fed in fuzzed chunk sizes.
 * A registered endpoint answers binding requests with a success response, as werift does after
 * checking MESSAGE-INTEGRITY, so inputs reach the authenticated state too.
 * Findings: an exception, and a connection, path or pre-auth slot left behind after the
 * connection closed.
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import { Cursor, invariant } from './cursor.ts';

// Capture the listener's server and the mux's socket: wrap the factories for the one bind below
// (see udpMux.ts). Neither may keep the process alive when fuzzing ends.
const original = net.createServer;
const originalSocket = dgram.createSocket;
let server: net.Server | undefined;
let udpSocket: dgram.Socket | undefined;
net.createServer = ((...args: Parameters<typeof original>) => {
  server = original(...args);
  return server;
}) as typeof original;
dgram.createSocket = ((...args: Parameters<typeof originalSocket>) => {
  udpSocket = originalSocket(...args);
  return udpSocket;
}) as typeof originalSocket;
syncBuiltinESMExports();
const { IceTcpListener } = await import('../../server/transports/web/webrtc/iceTcp.ts');
const { UdpMux } = await import('../../server/transports/web/webrtc/udpMux.ts');
const mux = await UdpMux.bind({ host: '127.0.0.1', port: 0 });
const listener = await IceTcpListener.listen({ mux, host: '127.0.0.1', port: 0, preAuthTimeoutMs: 60_000 });
net.createServer = original;
dgram.createSocket = originalSocket;
syncBuiltinESMExports();
const tcpServer = server!;
tcpServer.unref();
udpSocket!.unref();

const endpoint = mux.createEndpoint();
endpoint.addUfrag('fuzz');
const success = Buffer.alloc(20);
success.writeUInt16BE(0x0101, 0);
success.writeUInt32BE(0x2112a442, 4);
endpoint.setReceiver((data, host, port) => {
  if (data.length >= 20 && data[0] === 0 && data[1] === 1) endpoint.send(success, host, port);
});

/** Just what the listener uses of a `net.Socket`. */
class StandInSocket extends EventEmitter {
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort: number;
  writableLength = 0;
  destroyed = false;
  written = 0;

  constructor(port: number) {
    super();
    this.remotePort = port;
  }

  write(data: Buffer): boolean {
    this.written += data.length;
    return true;
  }

  destroy(): this {
    this.destroyed = true;
    return this;
  }
}

/** Closes the listener and the mux (the corpus replay must not leave sockets open). */
export async function dispose(): Promise<void> {
  await listener.close();
  await mux.close();
}

export function fuzz(data: Buffer): void {
  const input = new Cursor(data);
  const socket = new StandInSocket(1 + (input.u16() % 1024));
  tcpServer.emit('connection', socket);
  while (input.remaining > 0 && !socket.destroyed) {
    const size = 1 + (input.byte() % 97);
    socket.emit('data', Buffer.from(input.bytes(size)));
  }
  socket.emit('close');
  const connections = listener.connections;
  invariant(connections.open === 0, `open connections ${connections.open}`);
  invariant(connections.unauthenticated === 0, `unauthenticated ${connections.unauthenticated}`);
  invariant(endpoint.tcpPathCount === 0, `paths ${endpoint.tcpPathCount}`);
  invariant(!endpoint.closed, 'the endpoint outlives its connections');
}
