/**
 * WebTransport draft-02 and the current draft (draft-ietf-webtrans-http3-15/16) on one server,
 * negotiated per connection, and the current draft's session flow control enforced in both
 * directions: real QUIC connections on loopback, our client in each role.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { connectWebTransport, type WebTransportClient } from '../../../client/quic/webTransportClient.ts';
import { WebTransportError } from '../../../server/transports/quic/errors.ts';
import { H3Connection } from '../../../server/transports/quic/h3Connection.ts';
import type { FlowLimits } from '../../../server/transports/quic/sessionFlowControl.ts';
import { concatBytes, encodeVarint } from '../../../server/transports/quic/varint.ts';
import type {
  SessionCloseInfo,
  WebTransportSession,
  WebTransportStream,
} from '../../../server/transports/quic/webTransport.ts';
import { needsNativeAddon } from '../../helpers/nativeAddon.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import type { QuicEndpoint } from './helpers.ts';
import { serverEndpoint } from './helpers.ts';

const endpoints: QuicEndpoint[] = [];
const clients: WebTransportClient[] = [];
after(async () => {
  for (const client of clients) await client.close().catch(() => {});
  for (const endpoint of endpoints) await endpoint.close();
});

/** A server echoing each bidirectional stream (FIN answered with FIN); what it saw is recorded. */
async function echoServer(flowLimits?: FlowLimits) {
  const sessions: WebTransportSession[] = [];
  const closes: SessionCloseInfo[] = [];
  const connections: H3Connection[] = [];
  const server = await serverEndpoint({
    onConnection: (quic) => {
      const h3 = new H3Connection({
        quic,
        role: 'server',
        ...(flowLimits === undefined ? {} : { flowLimits }),
        onSession: (session) => {
          sessions.push(session);
          session.handler = {
            onStream: (stream) =>
              stream.setHandler({ onData: (bytes, fin) => stream.write(bytes, fin), onAbort() {} }),
            onDatagram: (payload) => session.sendDatagram(payload),
            onClose: (info) => closes.push(info),
          };
        },
      });
      connections.push(h3);
    },
  });
  endpoints.push(server);
  return { server, sessions, closes, connections };
}

async function connect(port: number, options: Partial<Parameters<typeof connectWebTransport>[0]> = {}) {
  const client = await connectWebTransport({
    host: '127.0.0.1',
    port,
    path: '/echo',
    insecure: true,
    ...options,
  });
  clients.push(client);
  return client;
}

/** Writes `bytes` with FIN on a new stream; resolves with the echo once its FIN arrives. */
function roundTrip(stream: WebTransportStream, bytes: Uint8Array): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  return new Promise((resolve, reject) => {
    stream.setHandler({
      onData(data, fin) {
        chunks.push(data);
        if (fin) resolve(concatBytes(chunks));
      },
      onAbort: (code) => reject(new Error(`stream aborted (0x${code.toString(16)})`)),
    });
    stream.write(bytes, true);
  });
}

test(
  'each connection gets the draft its client speaks: draft-02 and current side by side',
  needsNativeAddon,
  async () => {
    const { server, sessions } = await echoServer();
    const old = await connect(server.port);
    const current = await connect(server.port, { draft: 'current' });
    await waitFor(() => sessions.length === 2, 'both sessions');
    assert.deepEqual(
      sessions.map((session) => [session.draft, session.flowControlled]),
      [
        ['draft02', false],
        ['current', true],
      ],
    );
    assert.equal(old.session.draft, 'draft02');
    assert.equal(current.session.draft, 'current');
    // The current client sent `:protocol webtransport-h3` and no draft-02 header.
    assert.ok(
      sessions[1]!.headers.some(([name, value]) => name === ':protocol' && value === 'webtransport-h3'),
    );
    assert.ok(!sessions[1]!.headers.some(([name]) => name.startsWith('sec-webtransport')));
    for (const client of [old, current]) {
      const echo = await roundTrip(client.session.openBidiStream(), Uint8Array.of(1, 2, 3));
      assert.deepEqual(echo, Uint8Array.of(1, 2, 3));
    }
  },
);

test(
  'the server raises WT_MAX_STREAMS as streams end: 60 streams one after another never stall',
  needsNativeAddon,
  async () => {
    const { server } = await echoServer({ maxData: 64 * 1024, maxStreamsBidi: 4, maxStreamsUni: 2 });
    const client = await connect(server.port, { draft: 'current' });
    for (let i = 0; i < 60; i++) {
      // Without WT_MAX_STREAMS from the server, the fifth open would throw (limit 4).
      const echo = await roundTrip(client.session.openBidiStream(), Uint8Array.of(i));
      assert.deepEqual(echo, Uint8Array.of(i));
    }
  },
);

test(
  'the server raises WT_MAX_DATA as data is consumed: 200 KiB through a 16 KiB window',
  needsNativeAddon,
  async () => {
    const { server } = await echoServer({ maxData: 16 * 1024, maxStreamsBidi: 8, maxStreamsUni: 2 });
    // The client grants the server only 16 KiB too: the echo is held back until the client's WT_MAX_DATA.
    const client = await connect(server.port, {
      draft: 'current',
      flowLimits: { maxData: 16 * 1024, maxStreamsBidi: 2, maxStreamsUni: 2 },
    });
    const payload = new Uint8Array(200 * 1024).map((_, i) => i & 0xff);
    const echo = await roundTrip(client.session.openBidiStream(), payload);
    assert.equal(echo.length, payload.length);
    assert.deepEqual(echo, payload);
    assert.equal(client.session.closed, false);
  },
);

test(
  'a client that opens more streams than WT_MAX_STREAMS allows gets WT_FLOW_CONTROL_ERROR',
  needsNativeAddon,
  async () => {
    const { server, closes } = await echoServer({ maxData: 64 * 1024, maxStreamsBidi: 3, maxStreamsUni: 2 });
    const client = await connect(server.port, { draft: 'current' });
    let closed: SessionCloseInfo | undefined;
    client.session.handler = { onStream() {}, onDatagram() {}, onClose: (info) => (closed = info) };
    // Raw WebTransport streams (signal 0x41, session id) past the session's own bookkeeping, kept open.
    for (let i = 0; i < 4; i++) {
      client.h3.sendRawStream(
        true,
        concatBytes([encodeVarint(0x41), encodeVarint(client.session.id), Uint8Array.of(i)]),
      );
    }
    await waitFor(() => closed !== undefined, 'the session close');
    assert.equal(closed!.code, WebTransportError.FLOW_CONTROL_ERROR);
    assert.match(closed!.reason, /flow control: the peer opened bidi stream 4 of a session allowing 3/);
    assert.equal(closes[0]?.code, WebTransportError.FLOW_CONTROL_ERROR);
  },
);

test('a client that sends more than WT_MAX_DATA gets WT_FLOW_CONTROL_ERROR', needsNativeAddon, async () => {
  const { server } = await echoServer({ maxData: 1000, maxStreamsBidi: 4, maxStreamsUni: 2 });
  const client = await connect(server.port, { draft: 'current' });
  let closed: SessionCloseInfo | undefined;
  client.session.handler = { onStream() {}, onDatagram() {}, onClose: (info) => (closed = info) };
  client.h3.sendRawStream(
    true,
    concatBytes([encodeVarint(0x41), encodeVarint(client.session.id), new Uint8Array(1500)]),
  );
  await waitFor(() => closed !== undefined, 'the session close');
  assert.equal(closed!.code, WebTransportError.FLOW_CONTROL_ERROR);
  assert.match(closed!.reason, /the peer sent \d+ bytes on a session allowing 1000/);
});

test(
  'a client that opens streams past the server grant is refused locally and sends WT_STREAMS_BLOCKED',
  needsNativeAddon,
  async () => {
    const { server, sessions } = await echoServer({
      maxData: 64 * 1024,
      maxStreamsBidi: 2,
      maxStreamsUni: 2,
    });
    const client = await connect(server.port, { draft: 'current' });
    client.session.openBidiStream();
    client.session.openBidiStream();
    assert.throws(
      () => client.session.openBidiStream(),
      /WT_MAX_STREAMS allows no more bidirectional streams/,
    );
    // The server answers WT_STREAMS_BLOCKED with what it can grant (nothing ended yet: nothing more).
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(sessions[0]?.closed, false);
  },
);

test('GOAWAY sends WT_DRAIN_SESSION to current-draft sessions only', needsNativeAddon, async () => {
  const { server, connections } = await echoServer();
  const old = await connect(server.port);
  const current = await connect(server.port, { draft: 'current' });
  const drained: string[] = [];
  old.session.handler = {
    onStream() {},
    onDatagram() {},
    onClose() {},
    onDrain: () => drained.push('draft02'),
  };
  current.session.handler = {
    onStream() {},
    onDatagram() {},
    onClose() {},
    onDrain: () => drained.push('current'),
  };
  await waitFor(() => connections.length === 2, 'both connections');
  for (const h3 of connections) h3.goaway();
  await waitFor(() => current.session.drainRequested, 'WT_DRAIN_SESSION');
  // Sessions keep working while draining; the draft-02 one got no capsule it cannot parse.
  assert.deepEqual(await roundTrip(old.session.openBidiStream(), Uint8Array.of(7)), Uint8Array.of(7));
  assert.deepEqual(drained, ['current']);
  assert.equal(old.session.drainRequested, false);
});
