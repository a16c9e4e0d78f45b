/**
 * The server side of an HTTP/3 connection as a client drives it (server/transports/quic/
 * h3Connection.ts): control, QPACK and WebTransport uni streams, request streams with
 * HEADERS (QPACK, Huffman), extended CONNECT, capsules, WebTransport bidi stream headers and
 * HTTP/3 datagrams, on a stand-in for the QUIC connection. Each input is a script of stream
 * writes, resets and datagrams. Finding: the connection closing with H3_INTERNAL_ERROR (every
 * exception inside H3Connection ends there) or an exception escaping it.
 */
import { H3Error } from '../../server/transports/quic/errors.ts';
import { H3Connection } from '../../server/transports/quic/h3Connection.ts';
import type { QuicConnection } from '../../server/transports/quic/quicConnection.ts';
import { Cursor } from './cursor.ts';

/** The parts of QuicConnection that H3Connection uses, recording the close. */
class StandInQuic {
  established = true;
  handler: unknown;
  closedWith: { code: number; reason: string } | undefined;
  remoteAddress = '127.0.0.1:4433';
  pendingBytes = 0;
  maxDatagramSize = 1200;
  #nextBidi = 1;
  #nextUni = 3;

  openStream(bidirectional: boolean): number {
    const id = bidirectional ? this.#nextBidi : this.#nextUni;
    if (bidirectional) this.#nextBidi += 4;
    else this.#nextUni += 4;
    return id;
  }
  streamSend(): boolean {
    return true;
  }
  shutdownStream(): void {}
  sendDatagram(): boolean {
    return true;
  }
  close(_isApp: boolean, code: number, reason: string): void {
    this.closedWith ??= { code, reason };
  }
}

export function fuzz(data: Buffer): void {
  const quic = new StandInQuic();
  const h3 = new H3Connection({
    quic: quic as unknown as QuicConnection,
    role: 'server',
    maxSessions: 1,
    onConnect: (request) => ({ status: request.path === '/main' ? 200 : 404 }),
    onSession: (session) => {
      session.handler = {
        onStream: (stream) => stream.setHandler({ onData: () => {}, onAbort: () => {} }),
        onDatagram: () => {},
        onClose: () => {},
      };
    },
  });
  const input = new Cursor(data);
  while (input.remaining > 0 && quic.closedWith === undefined) {
    const op = input.byte();
    // Client-initiated stream ids: bidi 0, 4, 8 ...; uni 2, 6, 10 ... (RFC 9000 section 2.1).
    const selector = input.byte() & 0x0f;
    const streamId = (selector >> 1) * 4 + (selector & 1 ? 2 : 0);
    switch (op & 3) {
      case 0:
      case 1:
        h3.onStreamData(streamId, input.bytes(input.byte()), (op & 4) !== 0);
        break;
      case 2:
        h3.onStreamAborted(streamId, input.u16(), (op & 4) !== 0 ? 'read' : 'write');
        break;
      default:
        h3.onDatagram(input.bytes(input.byte()));
    }
  }
  if (quic.closedWith?.code === H3Error.INTERNAL_ERROR) {
    throw new Error(`H3_INTERNAL_ERROR from client bytes: ${quic.closedWith.reason}`);
  }
  h3.onClosed({ by: 'peer', isApp: true, code: 0, reason: 'fuzz input done' });
}
