/**
 * MessagePack-RPC over one WebTransport bidirectional stream (HTTP/3 or HTTP/2), client side: an RpcSession
 * (../rpcSession.ts) over the stream, each message length-prefixed (docs/protocol.md).
 */
import { frameMessage, MessageReader, type WtStream } from '../../server/transports/quic/index.ts';
import { type ClientTransport, RpcSession } from '../rpcSession.ts';

/** Largest message a client accepts from the server. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

function streamTransport(stream: WtStream): ClientTransport {
  return {
    send: (message) => stream.write(frameMessage(message)),
    listen: ({ onFrame, onClose }) => {
      const reader = new MessageReader(MAX_MESSAGE_BYTES);
      stream.setHandler({
        onData: (bytes, fin) => {
          for (const message of reader.push(bytes)) onFrame(message);
          if (fin) onClose(0, 'stream ended');
        },
        onAbort: (code) => onClose(code, `stream aborted (code ${code})`),
      });
    },
    close: () => {
      stream.write(new Uint8Array(0), true);
      return Promise.resolve();
    },
  };
}

export class RpcStream extends RpcSession {
  readonly stream: WtStream;

  constructor(stream: WtStream, timeoutMs: number) {
    super(streamTransport(stream), timeoutMs);
    this.stream = stream;
  }
}
