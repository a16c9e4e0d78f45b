import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { UdpMux } from '../../../server/transports/web/webrtc/udpMux.ts';
import {
  bindMux,
  bytes,
  connect,
  LOOPBACK,
  serverSession,
  text,
  udpSocketCount,
  voiceClient,
  waitFor,
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
    await waitFor(() => a.received.length === 1, 3000, 'session A receives');
    assert.equal(b.session.sendVoice(a.received[0]!), true);
    await waitFor(() => cb.received.length === 1, 3000, 'client B receives');
    assert.equal(text(cb.received[0]!), 'hello from A');

    cb.client.sendVoice(bytes('hello from B'));
    await waitFor(() => b.received.length === 1, 3000, 'session B receives');
    a.session.sendVoice(b.received[0]!);
    await waitFor(() => ca.received.length === 1, 3000, 'client A receives');
    assert.equal(text(ca.received[0]!), 'hello from B');

    assert.deepEqual(a.session.stats, { voiceIn: 1, voiceOut: 1, voiceDropped: 0 });
    assert.equal(mux.sizes.endpoints, 2);
    assert.equal(mux.sizes.ufrags, 2);
    assert.equal(mux.sizes.addresses, 2);

    await Promise.all([a.session.close(), b.session.close(), ca.client.close(), cb.client.close()]);
    assert.equal(await a.closed, 'closed by the server');
    assert.deepEqual(mux.sizes, { endpoints: 0, ufrags: 0, addresses: 0, transactions: 0 });
    await waitFor(() => udpSocketCount() === socketsBefore + 1, 2000, 'client sockets closed');
  });
});
