import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { after, afterEach, before, describe, test } from 'node:test';
import { UdpMux, UdpMuxError } from '../../../server/transports/web/webrtc/udpMux.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import { LOOPBACK } from './helpers.ts';

/** RFC 8489 §5 header + optional USERNAME (§14.3), enough for routing tests. */
function stunMessage(
  type: number,
  options: { username?: string; transactionId?: Buffer } = {},
): { bytes: Buffer; transactionId: Buffer } {
  const transactionId = options.transactionId ?? randomBytes(12);
  const attributes: Buffer[] = [];
  if (options.username !== undefined) {
    const value = Buffer.from(options.username, 'utf8');
    const padded = Buffer.alloc(4 + ((value.length + 3) & ~3));
    padded.writeUInt16BE(0x0006, 0);
    padded.writeUInt16BE(value.length, 2);
    value.copy(padded, 4);
    attributes.push(padded);
  }
  const body = Buffer.concat(attributes);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(type, 0);
  header.writeUInt16BE(body.length, 2);
  header.writeUInt32BE(0x2112a442, 4);
  transactionId.copy(header, 8);
  return { bytes: Buffer.concat([header, body]), transactionId };
}
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const DTLS_RECORD = Buffer.from([22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

describe('UdpMux', () => {
  let mux: UdpMux;
  let peer: Socket;
  let peerPort: number;
  const peerReceived: Buffer[] = [];

  const sendFromPeer = (data: Buffer, socket: Socket = peer) =>
    new Promise<void>((resolve) => socket.send(data, mux.address().port, LOOPBACK, () => resolve()));
  /** Datagrams are processed in order: a sentinel through the same socket proves the ones before it were handled. */
  const settle = async (socket: Socket = peer) => {
    const before = mux.counters.datagramsIn;
    await sendFromPeer(Buffer.from([255]), socket);
    await waitFor(() => mux.counters.datagramsIn > before, 'mux to read the sentinel');
  };

  before(async () => {
    mux = await UdpMux.bind({
      host: LOOPBACK,
      port: 0,
      // Long enough that a response the test sends back arrives inside it on a busy machine.
      transactionTtlMs: 2_000,
      sweepIntervalMs: 50,
      idleTimeoutMs: 300,
      maxTransactions: 4,
      maxAddressesPerEndpoint: 2,
    });
    peer = createSocket('udp4');
    await new Promise<void>((resolve) => peer.bind(0, LOOPBACK, () => resolve()));
    peerPort = peer.address().port;
    peer.on('message', (data) => peerReceived.push(data));
  });

  afterEach(() => {
    peerReceived.length = 0;
  });

  after(async () => {
    peer.close();
    await mux.close();
    assert.deepEqual(mux.sizes, { endpoints: 0, ufrags: 0, addresses: 0, transactions: 0 });
  });

  test('binds one socket and reports the real port', () => {
    const { address, port, family } = mux.address();
    assert.equal(address, LOOPBACK);
    assert.ok(port > 0);
    assert.equal(family, 'IPv4');
  });

  test('garbage of every shape is counted and dropped, never thrown', async () => {
    const before = mux.counters;
    await sendFromPeer(Buffer.alloc(0));
    await sendFromPeer(Buffer.from([0, 1, 2])); // STUN range, too short
    await sendFromPeer(Buffer.concat([Buffer.from([0, 1, 0, 4]), randomBytes(20)])); // no magic cookie
    await sendFromPeer(Buffer.from([100, 1, 2, 3])); // RFC 7983: nobody's range
    // In bursts of ten, each settled: a loaded machine's kernel drops UDP that a busy event
    // loop has not read yet, and the count below must be exact.
    for (let i = 0; i < 50; i++) {
      await sendFromPeer(randomBytes(1 + (i % 40) * 30));
      if (i % 10 === 9) await settle();
    }
    await sendFromPeer(DTLS_RECORD); // DTLS from an address no check introduced
    await settle();
    const after = mux.counters;
    assert.equal(after.datagramsIn - before.datagramsIn, 4 + 50 + 1 + 6); // + the 6 sentinels
    assert.ok(after.droppedGarbage - before.droppedGarbage >= 4);
    assert.ok(after.droppedUnknownAddress - before.droppedUnknownAddress >= 1);
    assert.equal(after.routedByAddress + after.routedByUfrag + after.routedByTransaction, 0);
  });

  test('a STUN request with an unknown or missing username is dropped', async () => {
    const before = mux.counters.droppedUnknownUfrag;
    await sendFromPeer(stunMessage(BINDING_REQUEST, { username: 'nobody:client' }).bytes);
    await sendFromPeer(stunMessage(BINDING_REQUEST).bytes);
    await sendFromPeer(stunMessage(BINDING_REQUEST, { username: 'nocolon' }).bytes);
    await settle();
    assert.equal(mux.counters.droppedUnknownUfrag - before, 3);
    assert.equal(mux.sizes.addresses, 0);
  });

  test('routes requests by ufrag, then DTLS by the learned address', async () => {
    const endpoint = mux.createEndpoint();
    const got: Array<[number, string, number]> = [];
    endpoint.setReceiver((data, host, port) => got.push([data[0]!, host, port]));
    endpoint.addUfrag('srvufrag');
    await sendFromPeer(stunMessage(BINDING_REQUEST, { username: 'srvufrag:cli' }).bytes);
    await sendFromPeer(DTLS_RECORD);
    await settle();
    assert.deepEqual(got, [
      [0, LOOPBACK, peerPort],
      [22, LOOPBACK, peerPort],
    ]);
    assert.equal(mux.sizes.addresses, 1);

    // Another socket (another port) is a stranger until it passes a check.
    const stranger = createSocket('udp4');
    await new Promise<void>((resolve) => stranger.bind(0, LOOPBACK, () => resolve()));
    await sendFromPeer(DTLS_RECORD, stranger);
    await settle(stranger);
    assert.equal(got.length, 2);
    stranger.close();

    endpoint.close();
    assert.deepEqual(mux.sizes, { endpoints: 0, ufrags: 0, addresses: 0, transactions: 0 });
    await sendFromPeer(DTLS_RECORD);
    await settle();
    assert.equal(got.length, 2, 'nothing reaches a closed endpoint');
  });

  test('routes a STUN response by the transaction id of the request the endpoint sent', async () => {
    const a = mux.createEndpoint();
    const b = mux.createEndpoint();
    const gotA: number[] = [];
    const gotB: number[] = [];
    a.setReceiver((data) => gotA.push(data.readUInt16BE(0)));
    b.setReceiver((data) => gotB.push(data.readUInt16BE(0)));
    const request = stunMessage(BINDING_REQUEST, { username: 'cli:srv' });
    b.send(request.bytes, LOOPBACK, peerPort);
    await waitFor(() => peerReceived.length === 1, 'the peer to get the request');
    assert.equal(mux.sizes.transactions, 1);
    await sendFromPeer(stunMessage(BINDING_SUCCESS, { transactionId: request.transactionId }).bytes);
    // a late duplicate response: the transaction is gone, and the peer's address is unknown
    await sendFromPeer(stunMessage(BINDING_SUCCESS, { transactionId: request.transactionId }).bytes);
    await settle();
    assert.deepEqual(gotA, []);
    assert.deepEqual(gotB, [BINDING_SUCCESS]);
    assert.equal(mux.sizes.transactions, 0);
    a.close();
    b.close();
  });

  test('remembered transactions expire and are bounded', async () => {
    const endpoint = mux.createEndpoint();
    for (let i = 0; i < 10; i++) endpoint.send(stunMessage(BINDING_REQUEST).bytes, LOOPBACK, peerPort);
    assert.equal(mux.sizes.transactions, 4, 'maxTransactions');
    await waitFor(() => mux.sizes.transactions === 0, 'transactions to expire');
    endpoint.close();
  });

  test('each endpoint keeps a bounded number of addresses; an address moves to the latest ufrag', async () => {
    const a = mux.createEndpoint();
    const b = mux.createEndpoint();
    a.addUfrag('ua');
    b.addUfrag('ub');
    const sockets: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const socket = createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, () => resolve()));
      sockets.push(socket);
      await sendFromPeer(stunMessage(BINDING_REQUEST, { username: 'ua:c' }).bytes, socket);
      await settle(socket);
    }
    assert.equal(a.addressCount, 2);
    assert.equal(mux.sizes.addresses, 2);
    await sendFromPeer(stunMessage(BINDING_REQUEST, { username: 'ub:c' }).bytes, sockets[2]);
    await settle(sockets[2]);
    assert.equal(a.addressCount, 1);
    assert.equal(b.addressCount, 1);
    assert.equal(mux.sizes.addresses, 2);
    for (const socket of sockets) socket.close();
    a.close();
    b.close();
    assert.equal(mux.sizes.addresses, 0);
  });

  test('a ufrag belongs to one endpoint; an ICE restart drops the old ufrag and addresses', async () => {
    const a = mux.createEndpoint();
    const b = mux.createEndpoint();
    a.addUfrag('first');
    assert.throws(
      () => b.addUfrag('first'),
      (error: unknown) => error instanceof UdpMuxError && error.code === 'ufrag-in-use',
    );
    await sendFromPeer(stunMessage(BINDING_REQUEST, { username: 'first:c' }).bytes);
    await settle();
    assert.equal(a.addressCount, 1);
    a.restartIce('second');
    assert.deepEqual(a.ufrags, ['second']);
    assert.equal(a.addressCount, 0);
    b.addUfrag('first'); // free again
    a.close();
    b.close();
    assert.deepEqual(mux.sizes, { endpoints: 0, ufrags: 0, addresses: 0, transactions: 0 });
  });

  test('an endpoint whose traffic stops is reported idle once', async () => {
    const endpoint = mux.createEndpoint();
    endpoint.addUfrag('idle');
    let idle = 0;
    endpoint.onIdle = () => idle++;
    await sendFromPeer(stunMessage(BINDING_REQUEST, { username: 'idle:c' }).bytes);
    await waitFor(() => idle === 1, 'idle report');
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(idle, 1);
    endpoint.close();
  });

  test('a receiver that throws is counted, the socket lives on', async () => {
    const endpoint = mux.createEndpoint();
    endpoint.addUfrag('thrower');
    endpoint.setReceiver(() => {
      throw new Error('boom');
    });
    await sendFromPeer(stunMessage(BINDING_REQUEST, { username: 'thrower:c' }).bytes);
    await settle();
    assert.equal(mux.counters.receiverErrors, 1);
    endpoint.close();
  });

  test('binding a port in use fails with the binding in the message', async () => {
    await assert.rejects(
      UdpMux.bind({ host: LOOPBACK, port: mux.address().port }),
      /webrtc_binding 127\.0\.0\.1:\d+/,
    );
  });
});
