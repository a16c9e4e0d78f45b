import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import type { UdpMux } from '../../../server/transports/web/webrtc/udpMux.ts';
import { openWebRtcPeerConnections } from '../../../server/transports/web/webrtc/webRtcSession.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import {
  bindMux,
  bytes,
  connect,
  LOOPBACK,
  serverSession,
  text,
  udpSocketCount,
  voiceClient,
} from './helpers.ts';

describe('WebRTC sessions on one shared UDP port', () => {
  let mux: UdpMux;
  let socketsBefore: number;

  before(async () => {
    socketsBefore = udpSocketCount();
    mux = await bindMux();
  });

  after(async () => {
    await mux.close();
    assert.equal(openWebRtcPeerConnections(), 0, 'no server peer connection left open');
    await waitFor(() => udpSocketCount() === socketsBefore, 'every socket closed');
  });

  test('two clients exchange voice both ways through two sessions on the one port', async () => {
    const a = serverSession(mux);
    const b = serverSession(mux);
    const ca = voiceClient();
    const cb = voiceClient();
    const clientSockets = udpSocketCount();
    const answerA = await connect(ca.client, a.session);
    await connect(cb.client, b.session);

    // Only the mux socket on the server side: connecting added exactly the clients' own
    // sockets (one each), none for the sessions.
    assert.equal(udpSocketCount() - socketsBefore, 1 + 2, 'mux socket + one socket per client');
    assert.ok(clientSockets >= socketsBefore + 1);

    // The answer advertises exactly the configured candidate on the mux port.
    const candidates = answerA.split('\r\n').filter((line) => line.startsWith('a=candidate:'));
    assert.deepEqual(candidates, [
      `a=candidate:1 1 udp 2130706431 ${LOOPBACK} ${mux.address().port} typ host`,
    ]);
    assert.match(answerA, /^a=ice-lite$/m);

    // client A → session A; glue forwards to session B → client B, and back.
    ca.client.sendVoice(bytes('hello from A'));
    await waitFor(() => a.received.length === 1, 'session A receives');
    assert.equal(b.session.sendVoice(a.received[0]!), true);
    await waitFor(() => cb.received.length === 1, 'client B receives');
    assert.equal(text(cb.received[0]!), 'hello from A');

    cb.client.sendVoice(bytes('hello from B'));
    await waitFor(() => b.received.length === 1, 'session B receives');
    a.session.sendVoice(b.received[0]!);
    await waitFor(() => ca.received.length === 1, 'client A receives');
    assert.equal(text(ca.received[0]!), 'hello from B');

    assert.deepEqual(a.session.stats, { voiceIn: 1, voiceOut: 1, voiceDropped: 0, voiceTooLate: 0 });
    assert.equal(mux.sizes.endpoints, 2);
    assert.equal(mux.sizes.ufrags, 2);
    assert.equal(mux.sizes.addresses, 2);

    await Promise.all([a.session.close(), b.session.close(), ca.client.close(), cb.client.close()]);
    assert.equal(await a.closed, 'closed by the server');
    assert.deepEqual(mux.sizes, { endpoints: 0, ufrags: 0, addresses: 0, transactions: 0 });
    await waitFor(() => udpSocketCount() === socketsBefore + 1, 'client sockets closed');
  });

  test('the server channel is the ODIN audio channel: negotiated id 2, unordered, no retransmissions', async () => {
    const a = serverSession(mux);
    assert.deepEqual(a.session.channelParameters, {
      label: 'audio',
      id: 2,
      negotiated: true,
      ordered: false,
      maxRetransmits: 0,
    });
    await a.session.close();
  });

  test('garbage and STUN with unknown usernames on the port do not disturb established sessions', async () => {
    const a = serverSession(mux);
    const ca = voiceClient();
    await connect(ca.client, a.session);
    const attacker = createSocket('udp4');
    const port = mux.address().port;
    const before = mux.counters;
    for (let i = 0; i < 200; i++) {
      const junk = randomBytes(1 + (i % 60) * 20);
      if (i % 3 === 0) junk[0] = 22; // DTLS-looking
      if (i % 3 === 1) junk[0] = 0; // STUN-looking
      await new Promise((resolve) => attacker.send(junk, port, LOOPBACK, resolve));
      if (i % 20 === 0) await new Promise(setImmediate); // let the mux read: don't test the kernel's buffer
    }
    const unknownUser = Buffer.alloc(32);
    unknownUser.writeUInt16BE(0x0001, 0); // Binding request
    unknownUser.writeUInt16BE(12, 2);
    unknownUser.writeUInt32BE(0x2112a442, 4);
    randomBytes(12).copy(unknownUser, 8);
    unknownUser.writeUInt16BE(0x0006, 20); // USERNAME
    unknownUser.writeUInt16BE(7, 22);
    unknownUser.write('xyz:abc', 24);
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => attacker.send(unknownUser, port, LOOPBACK, resolve));
    }
    await waitFor(
      () => mux.counters.droppedUnknownUfrag - before.droppedUnknownUfrag === 20,
      'junk to arrive',
    );
    attacker.close();

    for (let i = 0; i < 20; i++) ca.client.sendVoice(bytes(`packet ${i}`));
    await waitFor(() => a.received.length === 20, 'voice after the junk');
    assert.equal(a.session.state, 'connected');
    const after = mux.counters;
    assert.equal(after.droppedUnknownUfrag - before.droppedUnknownUfrag, 20);
    assert.ok(
      after.droppedGarbage + after.droppedUnknownAddress >
        before.droppedGarbage + before.droppedUnknownAddress,
    );
    await Promise.all([a.session.close(), ca.client.close()]);
  });

  test('a client that vanishes mid-handshake is cleaned up after the connect timeout', async () => {
    const a = serverSession(mux, { connectTimeoutMs: 800 });
    const ca = voiceClient();
    const offer = await ca.client.createOffer();
    await a.session.answer(offer);
    await ca.client.close(); // never applies the answer
    assert.equal(mux.sizes.endpoints, 1);
    assert.match(await a.closed, /not connected within 800 ms/);
    assert.equal(a.session.state, 'closed');
    assert.deepEqual(mux.sizes, { endpoints: 0, ufrags: 0, addresses: 0, transactions: 0 });
  });

  test('a connected client that goes silent is closed by the idle sweep', async () => {
    const silentMux = await bindMux({ idleTimeoutMs: 500, sweepIntervalMs: 100 });
    const a = serverSession(silentMux);
    const ca = voiceClient();
    await connect(ca.client, a.session);
    // Pull the client's network cable: close its UDP transports without any goodbye.
    const pc = ca.client.peerConnection as unknown as {
      iceTransports: Array<{ connection: { protocols: Array<{ transport: { close(): Promise<void> } }> } }>;
    };
    for (const t of pc.iceTransports) for (const p of t.connection.protocols) await p.transport.close();
    assert.match(await a.closed, /ice timeout/);
    assert.deepEqual(silentMux.sizes, { endpoints: 0, ufrags: 0, addresses: 0, transactions: 0 });
    await ca.client.close();
    await silentMux.close();
  });

  test('a client closing its peer connection ends the session', async () => {
    const a = serverSession(mux);
    const ca = voiceClient();
    await connect(ca.client, a.session);
    await ca.client.close();
    assert.match(await a.closed, /closed/);
    assert.equal(mux.sizes.endpoints, 0);
  });
});
