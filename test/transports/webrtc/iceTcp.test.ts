/**
 * ICE-TCP on the shared WebRTC port: a TCP web peer and a UDP web peer talk through the server
 * while bad TCP clients are closed, each counted by its reason.
 */
import assert from 'node:assert/strict';
import { type Socket, connect as tcpConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Message } from 'werift';
import { WebRtcVoice } from '../../../client/webrtc/webRtcVoice.ts';
import { type IceTcpCloseReason, IceTcpListener } from '../../../server/transports/web/webrtc/iceTcp.ts';
import { encodeIceTcpFrame, IceTcpFrameReader } from '../../../server/transports/web/webrtc/iceTcpFraming.ts';
import type { EndpointTcpPath, UdpMux } from '../../../server/transports/web/webrtc/udpMux.ts';
import { openWebRtcPeerConnections } from '../../../server/transports/web/webrtc/webRtcSession.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import { bindMux, bytes, connect, LOOPBACK, type ServerSide, serverSession, text } from './helpers.ts';

const BOTH = { udp: true, tcp: true };

/** A raw TCP client of the ICE-TCP port; `closed` resolves when the server closes it. */
function rawClient(port: number): Promise<{ socket: Socket; closed: Promise<void>; frames: Buffer[] }> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: LOOPBACK, port });
    const frames: Buffer[] = [];
    const reader = new IceTcpFrameReader({
      maxFrameLength: 65535,
      onFrame: (f) => frames.push(Buffer.from(f)),
    });
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    const closed = new Promise<void>((done) => socket.on('close', () => done()));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, closed, frames }));
    socket.once('error', reject);
  });
}

function sdpValue(sdp: string, key: string): string {
  const match = new RegExp(`^a=${key}:(\\S+)`, 'm').exec(sdp);
  assert.ok(match, `a=${key} in the SDP`);
  return match[1]!;
}

/** A connectivity check a browser would send (RFC 8445 §7.1.2), signed with the server's password. */
function bindingRequest(serverUfrag: string, clientUfrag: string, serverPassword: string): Buffer {
  const request = new Message(1, 0)
    .setAttribute('USERNAME', `${serverUfrag}:${clientUfrag}`)
    .setAttribute('PRIORITY', 1845501695)
    .setAttribute('ICE-CONTROLLING', 12345678901234n)
    .addMessageIntegrity(Buffer.from(serverPassword, 'utf8'))
    .addFingerprint();
  return Buffer.from(request.bytes);
}

describe('ICE-TCP beside the UDP mux', () => {
  let mux: UdpMux;
  let iceTcp: IceTcpListener;
  let port: number;
  const closed = (reason: IceTcpCloseReason) => iceTcp.counters.closed[reason];

  before(async () => {
    mux = await bindMux();
    iceTcp = await IceTcpListener.listen({
      mux,
      host: LOOPBACK,
      port: mux.address().port,
      preAuthTimeoutMs: 300,
      maxUnauthenticatedPerSource: 6,
      maxFrameLength: 2048,
    });
    port = iceTcp.address().port;
  });

  after(async () => {
    await iceTcp.close();
    await mux.close();
    await waitFor(() => openWebRtcPeerConnections() === 0, 'no server peer connection left open');
  });

  test('listens on the UDP mux port number', () => {
    assert.equal(port, mux.address().port);
  });

  test('a TCP peer and a UDP peer exchange voice while bad TCP clients are closed and counted', async () => {
    const tcpSide = serverSession(mux, { transports: BOTH });
    const udpSide = serverSession(mux, { transports: BOTH });
    const tcpReceived: Uint8Array[] = [];
    const udpReceived: Uint8Array[] = [];
    const tcpClient = new WebRtcVoice({
      localAddress: LOOPBACK,
      transport: 'tcp',
      onVoice: (b) => tcpReceived.push(Uint8Array.from(b)),
    });
    const udpClient = new WebRtcVoice({
      localAddress: LOOPBACK,
      onVoice: (b) => udpReceived.push(Uint8Array.from(b)),
    });
    const offerer = new WebRtcVoice({ localAddress: LOOPBACK });
    try {
      const answer = await connect(tcpClient, tcpSide.session);
      await connect(udpClient, udpSide.session);
      const candidates = answer.split('\r\n').filter((line) => line.startsWith('a=candidate:'));
      assert.deepEqual(candidates, [
        `a=candidate:1 1 udp 2130706431 ${LOOPBACK} ${port} typ host`,
        `a=candidate:2 1 tcp 1520435199 ${LOOPBACK} ${port} typ host tcptype passive`,
      ]);
      assert.equal(tcpSide.session.transport, 'tcp');
      assert.equal(udpSide.session.transport, 'udp');
      assert.equal(iceTcp.connections.open, 1);
      assert.equal(iceTcp.connections.unauthenticated, 0);

      // Voice flows both ways between the two peers (the test plays the SFU's forwarding).
      let round = 0;
      const exchange = async () => {
        round++;
        tcpClient.sendVoice(bytes(`tcp ${round}`));
        udpClient.sendVoice(bytes(`udp ${round}`));
        await waitFor(
          () => tcpSide.received.some((b) => text(b) === `tcp ${round}`),
          `server hears the TCP peer (${round})`,
        );
        await waitFor(
          () => udpSide.received.some((b) => text(b) === `udp ${round}`),
          `server hears the UDP peer (${round})`,
        );
        udpSide.session.sendVoice(bytes(`to udp ${round}`));
        tcpSide.session.sendVoice(bytes(`to tcp ${round}`));
        await waitFor(() => udpReceived.some((b) => text(b) === `to udp ${round}`), 'UDP peer hears');
        await waitFor(() => tcpReceived.some((b) => text(b) === `to tcp ${round}`), 'TCP peer hears');
      };
      await exchange();

      // Garbage before any framing: an HTTP request sent to the port.
      const http = await rawClient(port);
      http.socket.write('GET / HTTP/1.1\r\nHost: grid\r\n\r\n');
      await http.closed;
      await waitFor(() => closed('garbage') === 1, 'garbage counted');
      await exchange();

      // A frame declaring more than the limit, refused on its header: STUN-shaped, 4000 bytes.
      const big = await rawClient(port);
      const header = Buffer.alloc(2 + 20);
      header.writeUInt16BE(20 + 3980, 0);
      header.writeUInt16BE(0x0001, 2);
      header.writeUInt16BE(3980, 4);
      header.writeUInt32BE(0x2112a442, 6);
      big.socket.write(header);
      await big.closed;
      await waitFor(() => closed('oversized_frame') === 1, 'oversized frame counted');

      // Half-open: one byte of a length prefix, then nothing.
      const half = await rawClient(port);
      half.socket.write(Buffer.from([0]));
      await half.closed;
      await waitFor(() => closed('preauth_timeout') === 1, 'pre-auth deadline counted');

      // A well-formed check for a ufrag nobody registered.
      const stranger = await rawClient(port);
      stranger.socket.write(encodeIceTcpFrame(bindingRequest('nobodyhere', 'client', 'x'.repeat(22))));
      await stranger.closed;
      await waitFor(() => closed('unknown_ufrag') === 1, 'unknown ufrag counted');
      await exchange();

      // A client that passes ICE (knows the password) and never starts DTLS: the session's
      // connect timeout ends it and its TCP connection.
      const stuck = serverSession(mux, { transports: BOTH, connectTimeoutMs: 1_000 });
      const offer = await offerer.createOffer();
      const stuckAnswer = await stuck.session.answer(offer);
      const dtlsless = await rawClient(port);
      dtlsless.socket.write(
        encodeIceTcpFrame(
          bindingRequest(
            sdpValue(stuckAnswer, 'ice-ufrag'),
            sdpValue(offer, 'ice-ufrag'),
            sdpValue(stuckAnswer, 'ice-pwd'),
          ),
        ),
      );
      await waitFor(() => dtlsless.frames.length > 0, 'the server answers the check');
      assert.equal(dtlsless.frames[0]!.readUInt16BE(0), 0x0101, 'a binding success response');
      await waitFor(() => iceTcp.connections.unauthenticated === 0, 'the check authenticated it');
      assert.equal(await stuck.closed, 'not connected within 1000 ms');
      await dtlsless.closed;
      await waitFor(() => closed('not_connected') === 1, 'never-DTLS connection counted');
      await exchange();

      // The pre-auth budget of one source: 6 at once, the 7th is closed at once.
      const idle = await Promise.all(Array.from({ length: 6 }, () => rawClient(port)));
      const extra = await rawClient(port);
      await extra.closed;
      await waitFor(() => closed('unauthenticated_cap') === 1, 'over the cap counted');
      await Promise.all(idle.map((c) => c.closed));
      await waitFor(() => closed('preauth_timeout') === 7, 'the idle ones hit the deadline');
      await exchange();

      assert.equal(tcpSide.session.state, 'connected');
      assert.equal(udpSide.session.state, 'connected');
      assert.equal(iceTcp.connections.open, 1, 'only the TCP peer is left');
      assert.equal(closed('client_closed'), 0);
    } finally {
      await tcpSide.session.close();
      await udpSide.session.close();
      await tcpClient.close();
      await udpClient.close();
      await offerer.close();
    }
    await waitFor(() => iceTcp.connections.open === 0, 'the TCP peer connection closed with its session');
  });

  test('the TCP client closing its connection ends the session it carried', async () => {
    const side: ServerSide = serverSession(mux, { transports: { udp: false, tcp: true } });
    const client = new WebRtcVoice({ localAddress: LOOPBACK, transport: 'tcp' });
    const answer = await connect(client, side.session);
    assert.doesNotMatch(answer, / udp /, 'enforce-TCP answers offer no UDP candidate');
    assert.equal(side.session.transport, 'tcp');
    const before = closed('client_closed');
    await client.close();
    assert.match(await side.closed, /ICE-TCP connection carrying DTLS closed|data channel closed|connection/);
    await waitFor(() => iceTcp.connections.open === 0, 'connection gone');
    assert.ok(closed('client_closed') + closed('session_closed') > before);
  });

  test("a client that switches TCP connections keeps werift's DTLS: sends to a closed one go to its other", () => {
    const endpoint = mux.createEndpoint();
    const sent: string[] = [];
    const path = (name: string, port: number): EndpointTcpPath => ({
      host: LOOPBACK,
      port,
      send: () => sent.push(name),
      close: () => {},
    });
    const first = path('first', 40001);
    const second = path('second', 40002);
    let dataPathClosed = 0;
    endpoint.onDataPathClosed = () => dataPathClosed++;
    endpoint.setReceiver(() => {});
    assert.ok(endpoint.attachTcpPath(first, 4));
    assert.ok(endpoint.attachTcpPath(second, 4));
    endpoint.deliverTcp(first, Buffer.from([22, 254, 253])); // DTLS over the first
    assert.equal(endpoint.transport, 'tcp');
    endpoint.deliverTcp(second, Buffer.from([0, 1, 0, 0])); // the browser checks the second
    endpoint.detachTcpPath(first); // ... and closes the first (RFC 6544 §7.1 pruning)
    assert.equal(dataPathClosed, 0, 'another TCP connection of the client is left');
    endpoint.send(Buffer.from([22]), LOOPBACK, 40001); // werift still answers the first pair
    assert.deepEqual(sent, ['second']);
    endpoint.detachTcpPath(second);
    assert.equal(dataPathClosed, 1, 'no TCP connection left: the session is told');
    endpoint.send(Buffer.from([22]), LOOPBACK, 40002);
    assert.deepEqual(sent, ['second'], 'nothing to send on: dropped, not sent over UDP');
    endpoint.close();
  });
});
