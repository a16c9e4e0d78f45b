/**
 * What runs inside the Chromium page: the browser's own `WebTransport` speaking our native
 * protocol (docs/protocol.md). MessagePack is encoded and decoded on the Node side; the page
 * only frames messages (varint length prefix), reads streams and datagrams, and hands bytes
 * back as plain arrays. Installed with `page.evaluate(installWebTransportHarness)`.
 */

/** The part of the browser's WebTransport API the harness uses (there is no DOM lib here). */
type BrowserWebTransport = {
  ready: Promise<void>;
  closed: Promise<{ closeCode: number; reason: string }>;
  datagrams: {
    incomingHighWaterMark: number;
    maxDatagramSize: number;
    readable: ReadableStream<Uint8Array>;
    writable: WritableStream<Uint8Array>;
  };
  createBidirectionalStream(): Promise<{
    readable: ReadableStream<Uint8Array>;
    writable: WritableStream<Uint8Array>;
  }>;
  close(info: { closeCode: number; reason: string }): void;
};
type BrowserWebTransportConstructor = new (
  url: string,
  options: { serverCertificateHashes: { algorithm: string; value: Uint8Array }[] },
) => BrowserWebTransport;

/** Installs `window.odinWt` in the page. Self-contained: it is serialised into the page. */
export function installWebTransportHarness(): void {
  const WebTransport = (globalThis as unknown as { WebTransport: BrowserWebTransportConstructor })
    .WebTransport;
  type Inbox = { messages: number[][]; ended: boolean };
  const varint = (n: number): number[] =>
    n < 0x40
      ? [n]
      : n < 0x4000
        ? [0x40 | (n >> 8), n & 0xff]
        : [0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  const state: {
    transport?: BrowserWebTransport;
    writers: WritableStreamDefaultWriter<Uint8Array>[];
    inboxes: Inbox[];
    datagrams: number[][];
    datagramWriter?: WritableStreamDefaultWriter<Uint8Array>;
    closed?: string;
  } = { writers: [], inboxes: [], datagrams: [] };

  async function readMessages(readable: ReadableStream<Uint8Array>, inbox: Inbox): Promise<void> {
    const reader = readable.getReader();
    let buffer: number[] = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = buffer.concat(Array.from(value));
      for (;;) {
        if (buffer.length === 0) break;
        const first = buffer[0]!;
        const size = 1 << (first >> 6);
        if (buffer.length < size) break;
        let length = first & 0x3f;
        for (let i = 1; i < size; i++) length = length * 256 + buffer[i]!;
        if (buffer.length < size + length) break;
        inbox.messages.push(buffer.slice(size, size + length));
        buffer = buffer.slice(size + length);
      }
    }
    inbox.ended = true;
  }

  const api = {
    async connect(url: string, certificateSha256: number[]): Promise<void> {
      const transport = new WebTransport(url, {
        serverCertificateHashes: [{ algorithm: 'sha-256', value: new Uint8Array(certificateSha256) }],
      });
      state.transport = transport;
      transport.closed.then(
        (info) => {
          state.closed = `closed ${info.closeCode} ${info.reason}`;
        },
        (error) => {
          state.closed = `failed ${error}`;
        },
      );
      await transport.ready;
      // Chromium's incoming datagram queue is tiny: raise it and keep reading.
      transport.datagrams.incomingHighWaterMark = 1024;
      state.datagramWriter = transport.datagrams.writable.getWriter();
      void (async () => {
        const reader = transport.datagrams.readable.getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          state.datagrams.push(Array.from(value));
        }
      })();
    },
    /** Opens a bidirectional stream; returns its index. */
    async openStream(): Promise<number> {
      const stream = await state.transport!.createBidirectionalStream();
      const inbox: Inbox = { messages: [], ended: false };
      state.writers.push(stream.writable.getWriter());
      state.inboxes.push(inbox);
      void readMessages(stream.readable, inbox);
      return state.writers.length - 1;
    },
    /** Sends one message (MessagePack bytes) on a stream, with its length prefix. */
    async send(index: number, message: number[]): Promise<void> {
      await state.writers[index]!.write(new Uint8Array([...varint(message.length), ...message]));
    },
    /** Messages received so far on a stream (and removes them). */
    take(index: number): { messages: number[][]; ended: boolean } {
      const inbox = state.inboxes[index]!;
      const messages = inbox.messages.splice(0);
      return { messages, ended: inbox.ended };
    },
    async sendDatagrams(packets: number[][]): Promise<void> {
      for (const packet of packets) await state.datagramWriter!.write(new Uint8Array(packet));
    },
    takeDatagrams(): number[][] {
      return state.datagrams.splice(0);
    },
    maxDatagramSize(): number {
      return state.transport!.datagrams.maxDatagramSize;
    },
    status(): string | undefined {
      return state.closed;
    },
    close(): void {
      state.transport?.close({ closeCode: 0, reason: 'test done' });
    },
  };
  (globalThis as unknown as { odinWt: typeof api }).odinWt = api;
}

export type WebTransportHarness = {
  connect(url: string, certificateSha256: number[]): Promise<void>;
  openStream(): Promise<number>;
  send(index: number, message: number[]): Promise<void>;
  take(index: number): { messages: number[][]; ended: boolean };
  sendDatagrams(packets: number[][]): Promise<void>;
  takeDatagrams(): number[][];
  maxDatagramSize(): number;
  status(): string | undefined;
  close(): void;
};
