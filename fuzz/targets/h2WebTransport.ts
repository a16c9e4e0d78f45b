/**
 * The CONNECT stream of WebTransport over HTTP/2 (server/transports/quic/h2WebTransport.ts):
 * capsule parsing with its length bound, WT_STREAM / reset / stop / stream flow control, the
 * session flow-control capsules, close and drain, fed as a client would send them, in either
 * role. Findings: an exception out of `receive`, an internal (unnamed) error, a capsule value
 * over the limit reaching a handler, a session still open after a protocol error, chunking that
 * changes what the handlers saw, and bytes we wrote that do not parse back as capsules.
 */
import { CapsuleReader } from '../../server/transports/quic/capsule.ts';
import { H2WebTransportSession } from '../../server/transports/quic/h2WebTransport.ts';
import { Cursor, invariant } from './cursor.ts';

function run(role: 'client' | 'server', chunks: readonly Uint8Array[], maxCapsule: number): string {
  const written: Uint8Array[] = [];
  const seen: string[] = [];
  const session = new H2WebTransportSession({
    role,
    remoteAddress: 'fuzz:1',
    maxCapsuleBytes: maxCapsule,
    sink: {
      write: (bytes) => written.push(Uint8Array.from(bytes)),
      end: () => seen.push('end'),
      buffered: 0,
    },
  });
  session.handler = {
    onStream: (stream) => {
      seen.push(`stream ${stream.id}`);
      stream.setHandler({
        onData: (bytes, fin) => {
          invariant(bytes.length <= maxCapsule, 'stream data over the capsule limit reached a handler');
          seen.push(`data ${stream.id} ${bytes.length}${fin ? ' fin' : ''}`);
          // Echo, as the ODIN session answers: exercises the send side and its flow control.
          if (bytes.length > 0 && stream.bidirectional) stream.write(bytes, fin);
        },
        onAbort: (code, direction) => seen.push(`abort ${stream.id} ${code} ${direction}`),
      });
    },
    onDatagram: (payload) => {
      invariant(payload.length <= maxCapsule, 'a datagram over the capsule limit reached the handler');
      seen.push(`datagram ${payload.length}`);
    },
    onClose: (info) => seen.push(`close ${info.code} ${info.by}`),
  };
  session.start();
  for (const chunk of chunks) session.receive(chunk);
  invariant(session.stats.internalErrors === 0, 'an unnamed error inside the session');
  if (session.stats.protocolErrors > 0) invariant(session.closed, 'a protocol error left the session open');
  // Everything we wrote is well-formed capsules.
  const reader = new CapsuleReader(Number.MAX_SAFE_INTEGER);
  for (const bytes of written) reader.push(bytes);
  while (reader.next() !== undefined) {}
  return seen.join();
}

export function fuzz(data: Buffer): void {
  const input = new Cursor(data);
  const role = input.byte() % 2 === 0 ? 'server' : 'client';
  const maxCapsule = 1 + input.u16();
  const body = input.rest();
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < body.length; ) {
    const size = 1 + (body[at]! % 7);
    chunks.push(body.subarray(at, at + size));
    at += size;
  }
  invariant(
    run(role, [body], maxCapsule) === run(role, chunks, maxCapsule),
    'chunking changed what the handlers saw',
  );
}
