/**
 * Connections that have not authenticated (server/core/admission.ts): their own budget and
 * deadline, and `max_clients` counted only after authentication. Fake clock, fake connections.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeRequest } from '../../server/protocol/msgpackRpc.ts';
import { defaultLimits, FakeConnection, flush, Harness } from './helpers.ts';

const unauthenticated = { maxPending: 4, maxPendingPerSource: 2, timeoutMs: 5000 };
const limits = { ...defaultLimits, unauthenticated };

function connect(h: Harness, address: string) {
  const connection = new FakeConnection(address);
  return { connection, client: h.sfu.connect(connection) };
}

describe('connections waiting to authenticate', () => {
  test('one that does not authenticate within authentication_timeout is closed with the reason', async () => {
    const h = new Harness({ limits });
    const idle = connect(h, '192.0.2.1:1');
    const prompt = connect(h, '192.0.2.2:1');
    prompt.client.handleRpc(encodeRequest(0, 'Authenticate', { token: 'alice@lobby' }));
    await flush();
    assert.equal(h.sfu.unauthenticatedCount, 1);
    h.clock.advance(4999);
    assert.equal(idle.connection.closedWith, undefined);
    h.clock.advance(1);
    assert.match(
      String(idle.connection.closedWith),
      /not authenticated within 5000 ms \(\[limit\] authentication_timeout\)/,
    );
    assert.equal(prompt.connection.closedWith, undefined, 'the authenticated client stays');
    assert.equal(h.sfu.unauthenticatedCount, 0);
    assert.equal(h.sfu.admissionClosures.timeout, 1);
  });

  test('a source with max_unauthenticated_per_address waiting is refused one more, at once; others are not', async () => {
    const h = new Harness({ limits });
    connect(h, '192.0.2.1:1');
    connect(h, '192.0.2.1:2');
    const third = connect(h, '192.0.2.1:3');
    const other = connect(h, '192.0.2.9:1');
    await flush();
    assert.match(String(third.connection.closedWith), /too many connections from your address/);
    assert.equal(other.connection.closedWith, undefined);
    assert.equal(h.sfu.unauthenticatedCount, 3);
  });

  test('over max_unauthenticated the oldest waiting connection makes room for the new one', () => {
    const h = new Harness({ limits });
    const all = [1, 2, 3, 4, 5].map((i) => connect(h, `192.0.2.${i}:1`));
    assert.match(String(all[0]!.connection.closedWith), /too many connections waiting to authenticate/);
    assert.ok(all.slice(1).every((c) => c.connection.closedWith === undefined));
    assert.equal(h.sfu.unauthenticatedCount, 4);
    assert.equal(h.sfu.admissionClosures.evicted, 1);
  });

  test('idle unauthenticated sockets do not take max_clients: a real client still gets in', async () => {
    const h = new Harness({
      limits: {
        ...defaultLimits,
        maxClients: 2,
        unauthenticated: { ...unauthenticated, maxPending: 100, maxPendingPerSource: 100 },
      },
    });
    for (let i = 0; i < 50; i++) connect(h, `192.0.2.1:${i}`);
    const real = connect(h, '198.51.100.1:1');
    real.client.handleRpc(encodeRequest(0, 'Authenticate', { token: 'alice@lobby' }));
    await flush();
    assert.deepEqual(real.connection.responses()[0]?.error, null);
    assert.equal(h.sfu.clientCount, 1);
  });

  test('a client that closes while waiting leaves the budget', () => {
    const h = new Harness({ limits });
    const c = connect(h, '192.0.2.1:1');
    c.client.handleClose();
    assert.equal(h.sfu.unauthenticatedCount, 0);
    h.clock.advance(10_000);
    assert.equal(h.sfu.admissionClosures.timeout, 0);
  });
});
