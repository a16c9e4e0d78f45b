/**
 * RFC 9260 §6.1 rule A: with nothing in flight a sender may always send one DATA chunk, even
 * into a zero receiver window. That probe is what learns that the window reopened: a receiver
 * only reports its window in SACKs, and it only SACKs DATA. werift 0.25.2 refused to send into
 * a zero window at all, so a web client that once reported a_rwnd 0 (an overload) was never
 * sent voice again: the session stayed open and forwarded 0 packets/s for good.
 * The server sends through the patched werift (patches/werift+0.25.2.patch).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../helpers/waitFor.ts';
import { bytes, connect, muxForFile, serverSession, text, voiceClient } from './helpers.ts';

interface ClientSctp {
  advertisedRwnd: number;
  sendSack(): Promise<void>;
}

const mux = muxForFile();

test('a client that once advertised a zero window gets voice again once it has room (zero-window probe)', async () => {
  const server = serverSession(mux());
  const { client, received } = voiceClient();
  await connect(client, server.session);
  const sctp = (client.peerConnection.sctpTransport as unknown as { sctp: ClientSctp }).sctp;

  server.session.sendVoice(bytes('before'));
  await waitFor(() => received.length === 1, 'client receives the first packet');

  // The client reports a full receive buffer in its next SACK (a_rwnd 0)...
  const rwnd = sctp.advertisedRwnd;
  sctp.advertisedRwnd = 0;
  let zeroSacks = 0;
  const sendSack = sctp.sendSack.bind(sctp);
  sctp.sendSack = async () => {
    if (sctp.advertisedRwnd === 0) zeroSacks++;
    await sendSack();
  };
  server.session.sendVoice(bytes('into a closing window'));
  await waitFor(() => received.length === 2 && zeroSacks > 0, 'client acknowledges with a_rwnd 0');
  // ...that the server has processed: the client's next packet travels behind the SACK.
  client.sendVoice(bytes('marker'));
  await waitFor(() => server.received.length === 1, 'server receives the packet after the SACK');

  // The window reopens without the client saying so (it has nothing to acknowledge).
  sctp.advertisedRwnd = rwnd;
  for (let i = 0; i < 5; i++) server.session.sendVoice(bytes(`after ${i}`));
  await waitFor(() => received.length >= 3, 'client receives voice again after a zero window');
  assert.equal(text(received[2]!), 'after 0');

  await client.close();
  await server.session.close();
});
