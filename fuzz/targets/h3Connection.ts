/**
 * The server side of an HTTP/3 connection as a client drives it (server/transports/quic/
 * h3Connection.ts): control, QPACK and WebTransport uni streams, request streams with
 * HEADERS (QPACK, Huffman), extended CONNECT, capsules, WebTransport bidi stream headers and
 * HTTP/3 datagrams, on a stand-in for the QUIC connection. Each input is a script of stream
 * writes, resets and datagrams. Findings: the connection closing with H3_INTERNAL_ERROR (every
 * exception inside H3Connection ends there), an exception escaping it, or a request stream that
 * was both answered with a status and reset as malformed (RFC 9114 section 4.1.2: a malformed
 * request gets H3_MESSAGE_ERROR, never a status).
 */
import { H3Error } from '../../server/transports/quic/errors.ts';
import { H3Connection } from '../../server/transports/quic/h3Connection.ts';
import { FrameType } from '../../server/transports/quic/h3Frame.ts';
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
  /** Client request streams answered with HEADERS, and those reset with H3_MESSAGE_ERROR. */
  readonly answered = new Set<number>();
  readonly malformed = new Set<number>();
  streamSend(streamId: number, bytes: Uint8Array): boolean {
    if (streamId % 4 === 0 && bytes[0] === FrameType.HEADERS) this.answered.add(streamId);
    return true;
  }
  shutdownStream(streamId: number, _direction: string, code: number): void {
    if (code === H3Error.MESSAGE_ERROR) this.malformed.add(streamId);
  }
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
  for (const streamId of quic.malformed) {
    if (quic.answered.has(streamId)) {
      throw new Error(`request stream ${streamId} got both a status and H3_MESSAGE_ERROR`);
    }
  }
  h3.onClosed({ by: 'peer', isApp: true, code: 0, reason: 'fuzz input done' });
}
