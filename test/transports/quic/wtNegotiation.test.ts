/**
 * Which WebTransport draft a request gets (wtNegotiation.ts), and the rule that a server does not
 * process a WebTransport CONNECT before the client's SETTINGS (both drafts, section 3.1): an
 * H3Connection driven byte by byte on a stand-in for the QUIC connection, so the order of the
 * client's streams is ours to choose.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { H3Connection } from '../../../server/transports/quic/h3Connection.ts';
import {
  encodeFrame,
  encodeSettings,
  FrameType,
  Setting,
  StreamType,
} from '../../../server/transports/quic/h3Frame.ts';
import {
  decodeFieldSection,
  encodeFieldSection,
  type HeaderField,
} from '../../../server/transports/quic/qpack.ts';
import type { QuicConnection } from '../../../server/transports/quic/quicConnection.ts';
import { concatBytes, encodeVarint } from '../../../server/transports/quic/varint.ts';
import type { WebTransportSession } from '../../../server/transports/quic/webTransport.ts';
import { negotiateDraft } from '../../../server/transports/quic/wtNegotiation.ts';

test('negotiateDraft: webtransport-h3 is current; webtransport follows the draft-02 header and SETTINGS_WT_ENABLED', () => {
  const wtEnabled = new Map([[Setting.WT_ENABLED, 1]]);
  const draft02Settings = new Map([[Setting.ENABLE_WEBTRANSPORT, 1]]);
  const header: HeaderField[] = [['sec-webtransport-http3-draft02', '1']];
  assert.equal(negotiateDraft({ protocol: 'webtransport-h3', headers: [] }, undefined), 'current');
  assert.equal(negotiateDraft({ protocol: 'webtransport', headers: header }, wtEnabled), 'draft02');
  assert.equal(negotiateDraft({ protocol: 'webtransport', headers: [] }, wtEnabled), 'current');
  assert.equal(negotiateDraft({ protocol: 'webtransport', headers: [] }, draft02Settings), 'draft02');
  assert.equal(
    negotiateDraft({ protocol: 'webtransport', headers: [] }, new Map([[Setting.WT_ENABLED, 0]])),
    'draft02',
  );
  assert.equal(negotiateDraft({ protocol: 'connect-udp', headers: [] }, wtEnabled), undefined);
});

/** The parts of QuicConnection H3Connection uses; records what the server sends per stream. */
class StandInQuic {
  established = true;
  handler: unknown;
  readonly sent = new Map<number, Uint8Array[]>();
  #next = { bidi: 1, uni: 3 };
  openStream(bidirectional: boolean): number {
    const kind = bidirectional ? 'bidi' : 'uni';
    const id = this.#next[kind];
    this.#next[kind] += 4;
    return id;
  }
  streamSend(streamId: number, bytes: Uint8Array): boolean {
    this.sent.set(streamId, [...(this.sent.get(streamId) ?? []), bytes]);
    return true;
  }
  shutdownStream(): void {}
  sendDatagram(): boolean {
    return true;
  }
  close(): void {}
}

test('a CONNECT that overtakes the client SETTINGS waits for them, then gets the draft they name', () => {
  const quic = new StandInQuic();
  const sessions: WebTransportSession[] = [];
  const h3 = new H3Connection({
    quic: quic as unknown as QuicConnection,
    role: 'server',
    onSession: (session) => sessions.push(session),
  });
  const connect = encodeFrame(
    FrameType.HEADERS,
    encodeFieldSection([
      [':method', 'CONNECT'],
      [':protocol', 'webtransport'],
      [':scheme', 'https'],
      [':authority', 'localhost'],
      [':path', '/main'],
    ]),
  );
  h3.onStreamData(0, connect, false);
  assert.equal(quic.sent.get(0), undefined, 'no answer before the client SETTINGS');
  assert.equal(sessions.length, 0);
  const settings = new Map([
    [Setting.H3_DATAGRAM, 1],
    [Setting.WT_ENABLED, 1],
    [Setting.WT_INITIAL_MAX_STREAMS_BIDI, 4],
  ]);
  h3.onStreamData(2, concatBytes([encodeVarint(StreamType.CONTROL), encodeSettings(settings)]), false);
  assert.equal(sessions.length, 1);
  assert.equal(sessions[0]!.draft, 'current');
  assert.equal(sessions[0]!.flowControlled, true);
  const answer = quic.sent.get(0)![0]!;
  assert.equal(answer[0], FrameType.HEADERS);
  assert.deepEqual(decodeFieldSection(answer.subarray(2)), [[':status', '200']]);
});
