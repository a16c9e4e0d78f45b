/**
 * patches/werift+0.25.2.patch, applied by patch-package on install. Each test fails on an
 * unpatched werift 0.25.2. They reach into werift's SCTP internals on purpose: that is where
 * the bugs are.
 */
import assert from 'node:assert/strict';
import { promises as dnsPromises } from 'node:dns';
import { test } from 'node:test';
import { RTCPeerConnection } from 'werift';
import { waitFor } from '../../helpers/waitFor.ts';
import { bindMux, connect, serverSession, voiceClient } from './helpers.ts';

const SCTP_DATA_LAST_FRAG = 0x01;
const SCTP_DATA_FIRST_FRAG = 0x02;
const SCTP_DATA_UNORDERED = 0x04;

interface ChunkLike {
  type: number;
  tsn: number;
  flags: number;
  streamId: number;
  streamSeqNum: number;
  protocol: number;
  userData: Buffer;
  maxRetransmits?: number;
  expiry?: number;
  sentCount: number;
  abandoned: boolean;
  retransmit: boolean;
}
interface DtlsTransportInternals {
  srtpStarted: boolean;
  srtp: unknown;
  srtcp: unknown;
}
interface DtlsSocketInternals {
  handshakeReleased: boolean;
  bufferFragmentedHandshakes: unknown[];
  dtls: { lastMessage: unknown[]; lastFlight: unknown[]; handshakeCache: object };
  cipher: { localPrivateKey: unknown; localKeyPair: unknown; cipher: { clientWriteKey: Buffer } };
}
interface SctpInternals {
  sentQueue: ChunkLike[];
  maybeAbandon(chunk: ChunkLike): boolean;
  lastReceivedTsn: number | undefined;
  sackNeeded: boolean;
  sackImmediate: boolean;
  receiveDataChunk(chunk: ChunkLike): void;
}

async function sctpOfFreshPeerConnection(): Promise<{ pc: RTCPeerConnection; sctp: SctpInternals }> {
  const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle' });
  pc.createDataChannel('audio', { negotiated: true, id: 2, ordered: false, maxRetransmits: 0 });
  const sctp = (pc.sctpTransport as unknown as { sctp: SctpInternals } | undefined)?.sctp;
  assert.ok(sctp, 'werift changed: RTCPeerConnection.sctpTransport.sctp is gone');
  return { pc, sctp };
}

function dataChunk(tsn: number, extra: Partial<ChunkLike> = {}): ChunkLike {
  return {
    type: 0,
    tsn,
    flags: SCTP_DATA_FIRST_FRAG | SCTP_DATA_LAST_FRAG | SCTP_DATA_UNORDERED,
    streamId: 2,
    streamSeqNum: 0,
    protocol: 53,
    userData: Buffer.from('voice'),
    sentCount: 1,
    abandoned: false,
    retransmit: false,
    ...extra,
  };
}

test('maxRetransmits: 0 abandons a message after its first transmission (was: retransmitted forever)', async () => {
  const { pc, sctp } = await sctpOfFreshPeerConnection();
  const chunk = dataChunk(1, { maxRetransmits: 0 });
  sctp.sentQueue = [chunk];
  assert.equal(sctp.maybeAbandon(chunk), true);
  assert.equal(chunk.abandoned, true);
  assert.equal(chunk.retransmit, false);
  // A reliable chunk (no limit) is never abandoned.
  const reliable = dataChunk(2);
  sctp.sentQueue = [reliable];
  assert.equal(sctp.maybeAbandon(reliable), false);
  sctp.sentQueue = [];
  await pc.close();
});

test('abandoning marks the expired message, not the first queued one', async () => {
  const { pc, sctp } = await sctpOfFreshPeerConnection();
  const fresh = dataChunk(1, { maxRetransmits: 3 });
  const expired = dataChunk(2, { expiry: 1 }); // lifetime long over (werift's expiry is in seconds)
  sctp.sentQueue = [fresh, expired];
  assert.equal(sctp.maybeAbandon(expired), true);
  assert.equal(expired.abandoned, true);
  assert.equal(fresh.abandoned, false, 'the other message keeps its reliability');
  sctp.sentQueue = [];
  await pc.close();
});

test('a single new DATA chunk is acknowledged with a delay (every 2nd packet or 200 ms), not at once', async () => {
  const { pc, sctp } = await sctpOfFreshPeerConnection();
  sctp.lastReceivedTsn = 99;
  sctp.receiveDataChunk(dataChunk(100));
  assert.equal(sctp.sackNeeded, true);
  assert.equal(sctp.sackImmediate, false);
  // A gap still triggers an immediate SACK (RFC 9260 §6.7).
  sctp.receiveDataChunk(dataChunk(102));
  assert.equal(sctp.sackImmediate, true);
  await pc.close();
});

test('ICE credentials have RFC 8445 §5.3 entropy: ufrag 64 bits, password 128 bits', async () => {
  const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle', iceUseIpv6: false });
  pc.createDataChannel('audio', { negotiated: true, id: 2 });
  await pc.setLocalDescription(await pc.createOffer());
  const sdp = pc.localDescription!.sdp;
  assert.match(sdp, /^a=ice-ufrag:[0-9a-f]{16}\r?$/m);
  assert.match(sdp, /^a=ice-pwd:[0-9a-f]{32}\r?$/m);
  await pc.close();
});

test('iceServers: [] means no STUN server (was: stun.l.google.com behind the user’s back)', async () => {
  const looked: string[] = [];
  const original = dnsPromises.lookup;
  (dnsPromises as { lookup: unknown }).lookup = (hostname: string, ...rest: unknown[]) => {
    looked.push(hostname);
    return (original as (...args: unknown[]) => unknown)(hostname, ...rest);
  };
  try {
    const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle', iceUseIpv6: false });
    pc.createDataChannel('audio', { negotiated: true, id: 2 });
    await pc.setLocalDescription(await pc.createOffer());
    assert.doesNotMatch(pc.localDescription!.sdp, /typ srflx/);
    await pc.close();
  } finally {
    (dnsPromises as { lookup: unknown }).lookup = original;
  }
  assert.deepEqual(looked, []);
});

test('a data-channel-only connection derives no SRTP sessions (built on first media, not at connect)', async () => {
  const mux = await bindMux();
  try {
    const server = serverSession(mux);
    const { client, received } = voiceClient();
    await connect(client, server.session);
    server.session.sendVoice(new Uint8Array([1, 2, 3]));
    await waitFor(() => received.length === 1, 'voice arrives over the data channel');
    const dtls = (client.peerConnection.sctpTransport as unknown as { dtlsTransport: DtlsTransportInternals })
      .dtlsTransport;
    assert.equal(dtls.srtpStarted, true, 'use_srtp was negotiated, as browsers do');
    assert.equal(dtls.srtp, undefined, 'no SRTP session was derived');
    assert.equal(dtls.srtcp, undefined, 'no SRTCP session was derived');
    await client.close();
    await server.session.close();
  } finally {
    await mux.close();
  }
});

test('after the handshake a DTLS connection keeps no handshake messages, key pairs or pooled key buffers, and still carries voice', async () => {
  const mux = await bindMux();
  try {
    const server = serverSession(mux);
    const { client, received } = voiceClient();
    await connect(client, server.session);
    client.sendVoice(new Uint8Array([9]));
    server.session.sendVoice(new Uint8Array([1]));
    await waitFor(() => received.length === 1 && server.received.length === 1, 'voice both ways');
    // The client's werift is the DTLS server here (grid answers as the DTLS client).
    const dtls = (
      client.peerConnection.sctpTransport as unknown as { dtlsTransport: { dtls: DtlsSocketInternals } }
    ).dtlsTransport.dtls;
    assert.equal(dtls.handshakeReleased, true);
    assert.deepEqual(dtls.dtls.lastMessage, [], 'no copy of the last flight');
    assert.deepEqual(dtls.dtls.lastFlight, []);
    assert.deepEqual(dtls.dtls.handshakeCache, {});
    assert.equal(dtls.cipher.localPrivateKey, undefined);
    assert.equal(dtls.cipher.localKeyPair, undefined);
    const key = dtls.cipher.cipher.clientWriteKey;
    assert.equal(key.buffer.byteLength, key.length, 'the key has its own memory, not a pool slab');
    // The copied keys and nonces still encrypt and decrypt, in both directions.
    for (let i = 2; i <= 5; i++) {
      client.sendVoice(new Uint8Array([9, i]));
      server.session.sendVoice(new Uint8Array([1, i]));
    }
    await waitFor(() => received.length === 5 && server.received.length === 5, 'more voice both ways');
    await client.close();
    await server.session.close();
  } finally {
    await mux.close();
  }
});
