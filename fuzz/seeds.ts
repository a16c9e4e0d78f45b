/**
 * Writes the seed corpus of every fuzz target to `fuzz/corpus/<target>/seed-<name>`:
 * well-formed inputs made with our own encoders (what real clients send), plus the known
 * attacks (allocation bombs, deep nesting). Run it after changing a wire format:
 * `node fuzz/seeds.ts`; the files are committed.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signToken } from '../common/auth/token.ts';
import { mainMethods, roomMethods } from '../server/protocol/methods.ts';
import {
  encodeMsgpack,
  encodeNotification,
  encodeRequest,
  encodeResponse,
} from '../server/protocol/msgpackRpc.ts';
import { encodeVoicePacket } from '../server/protocol/voicePacket.ts';
import {
  CapsuleType,
  encodeCapsule,
  encodeCloseSession,
  encodeVarintCapsule,
} from '../server/transports/quic/capsule.ts';
import {
  encodeStreamCapsule,
  encodeVarintsCapsule,
  H2CapsuleType,
} from '../server/transports/quic/h2Capsules.ts';
import {
  encodeFrame,
  encodeSettings,
  FrameType,
  Setting,
  StreamType,
} from '../server/transports/quic/h3Frame.ts';
import { huffmanEncode } from '../server/transports/quic/huffman.ts';
import { frameMessage } from '../server/transports/quic/messageFraming.ts';
import { encodeFieldSection } from '../server/transports/quic/qpack.ts';
import { concatBytes, encodeVarint } from '../server/transports/quic/varint.ts';
import { deepNesting, rpcFrameBomb } from '../test/helpers/msgpackBombs.ts';
import { FUZZ_ACCESS_KEY, FUZZ_NOW_MS } from './targets/jwt.ts';

const corpus = fileURLToPath(new URL('./corpus/', import.meta.url));
const text = (value: string) => new TextEncoder().encode(value);
const u16 = (value: number) => Uint8Array.from([value >> 8, value & 0xff]);

/** Example params of every method, as the SDKs send them. */
const params: Record<(typeof mainMethods)[number] | (typeof roomMethods)[number], unknown> = {
  Authenticate: { token: 'eyJhbGciOiJFZERTQSJ9.e30.c2ln' },
  SetupWebRtc: {
    sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n',
  },
  JoinRoom: { room_id: 'lobby', user_data: text('{"name":"alice"}'), position: [0.5, -0.25, 0] },
  WebRtcUpdate: {
    kind: 'Trickle',
    candidate: 'candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host',
    spd_mid: '0',
  },
  RequestReconnectToken: { peer_id: 7 },
  Ping: {},
  UpdatePeer: { user_data: text('peer data') },
  UpdateRoom: { user_data: text('room data') },
  StartMedia: {
    media_id: 3,
    properties: { kind: 'audio', uid: 'mic', extra: { nested: [1, 2.5, null, true] } },
  },
  StopMedia: { media_id: 3 },
  PauseMedia: { media_id: 4 },
  ResumeMedia: { media_id: 4 },
  SetPeerPosition: { position: [1, 2] },
  SendMessage: { message: text('hello'), target_peer_ids: [1, 2, 3] },
};

function msgpackRpcSeeds(): Record<string, Uint8Array> {
  const seeds: Record<string, Uint8Array> = {};
  for (const [method, value] of Object.entries(params)) seeds[method] = encodeRequest(1, method, value);
  seeds.JoinRoomGenerationB = encodeRequest(2, 'JoinRoom', {
    ...(params.JoinRoom as object),
    token: 'x.y.z',
  });
  seeds.WebRtcUpdateSdp = encodeRequest(3, 'WebRtcUpdate', {
    kind: 'Sdp',
    type: 'Offer',
    sdp: 'v=0',
    media_map: [[1, 'audio']],
  });
  seeds.response = encodeResponse(4, null, { stream_id: 9 });
  seeds.notification = encodeNotification('RoomUpdated', { updates: [{ kind: 'PeerLeft', peer_id: 2 }] });
  seeds.bomb = rpcFrameBomb(3000);
  seeds.smallBomb = rpcFrameBomb(600, 200);
  seeds.deep = deepNesting(20);
  return seeds;
}

function rpcParamsSeeds(): Record<string, Uint8Array> {
  const methods = [...mainMethods, ...roomMethods];
  return Object.fromEntries(
    methods.map((method, i) => [method, concatBytes([Uint8Array.of(i), encodeMsgpack(params[method])])]),
  );
}

function voicePacketSeeds(): Record<string, Uint8Array> {
  const opus = Uint8Array.from({ length: 60 }, (_, i) => (i * 37) & 0xff);
  return {
    plain: encodeVoicePacket({ mediaIds: [3], seq: 1, ts: 1800, opus }),
    twoIds: encodeVoicePacket({ mediaIds: [3, 300], seq: 2 ** 31, ts: 2 ** 32 - 1, opus }),
    u32: encodeVoicePacket({ mediaIds: [1], seq: 5, ts: 9000, flags: 2, extraU32: 77, opus }),
    array: encodeVoicePacket({
      mediaIds: [65535],
      seq: 5,
      ts: 9000,
      flags: 6,
      extraU32: 1,
      extraArray: [1, 'x'],
      opus,
    }),
    empty: encodeVoicePacket({ mediaIds: [2], seq: 0, ts: 0, opus: new Uint8Array() }),
  };
}

/** One step of the h3Connection script: op (0 data, 2 reset, 3 datagram; +4 fin), stream selector, bytes. */
function step(op: number, selector: number, bytes: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < bytes.length || at === 0; at += 255) {
    const chunk = bytes.subarray(at, at + 255);
    parts.push(Uint8Array.of(op, selector, chunk.length), chunk);
    if (at + 255 >= bytes.length) break;
  }
  return concatBytes(parts);
}

function h3ConnectionSeeds(): Record<string, Uint8Array> {
  // Selectors: 0 → bidi stream 0, 1 → uni stream 2, 2 → bidi 4, 3 → uni 6, 5 → uni 10.
  const settings = encodeSettings(
    new Map([
      [Setting.ENABLE_CONNECT_PROTOCOL, 1],
      [Setting.H3_DATAGRAM, 1],
      [Setting.ENABLE_WEBTRANSPORT, 1],
      [Setting.WT_MAX_SESSIONS, 1],
    ]),
  );
  const control = step(0, 1, concatBytes([encodeVarint(StreamType.CONTROL), settings]));
  const qpack = concatBytes([
    step(0, 3, encodeVarint(StreamType.QPACK_ENCODER)),
    step(0, 5, encodeVarint(StreamType.QPACK_DECODER)),
  ]);
  const connect = encodeFrame(
    FrameType.HEADERS,
    encodeFieldSection([
      [':method', 'CONNECT'],
      [':protocol', 'webtransport'],
      [':scheme', 'https'],
      [':authority', 'localhost:4433'],
      [':path', '/main'],
      ['origin', 'https://localhost'],
    ]),
  );
  const session = step(0, 0, connect);
  const bidi = step(
    0,
    2,
    concatBytes([
      encodeVarint(FrameType.WEBTRANSPORT_STREAM),
      encodeVarint(0),
      frameMessage(encodeMsgpack(1)),
    ]),
  );
  const uni = step(
    0,
    7,
    concatBytes([encodeVarint(StreamType.WEBTRANSPORT), encodeVarint(0), text('uni data')]),
  );
  const datagram = step(3, 0, concatBytes([encodeVarint(0), text('voice')]));
  const close = step(4, 0, encodeFrame(FrameType.DATA, encodeCloseSession(7, 'bye')));
  return {
    settingsOnly: control,
    session: concatBytes([control, qpack, session]),
    sessionStreams: concatBytes([control, qpack, session, bidi, uni, datagram]),
    sessionClose: concatBytes([control, qpack, session, bidi, close]),
    getRequest: concatBytes([
      control,
      step(
        4,
        0,
        encodeFrame(
          FrameType.HEADERS,
          encodeFieldSection([
            [':method', 'GET'],
            [':scheme', 'https'],
            [':authority', 'a'],
            [':path', '/'],
          ]),
        ),
      ),
    ]),
    goaway: concatBytes([control, step(0, 1, encodeFrame(FrameType.GOAWAY, encodeVarint(0)))]),
    // The current draft (webtransport-h3, SETTINGS_WT_ENABLED, flow control) with every flow capsule.
    currentDraft: concatBytes([
      step(
        0,
        1,
        concatBytes([
          encodeVarint(StreamType.CONTROL),
          encodeSettings(
            new Map([
              [Setting.H3_DATAGRAM, 1],
              [Setting.WT_ENABLED, 1],
              [Setting.WT_INITIAL_MAX_DATA, 100],
              [Setting.WT_INITIAL_MAX_STREAMS_BIDI, 1],
            ]),
          ),
        ]),
      ),
      step(
        0,
        0,
        encodeFrame(
          FrameType.HEADERS,
          encodeFieldSection([
            [':method', 'CONNECT'],
            [':protocol', 'webtransport-h3'],
            [':scheme', 'https'],
            [':authority', 'localhost:4433'],
            [':path', '/main'],
          ]),
        ),
      ),
      step(
        0,
        0,
        encodeFrame(
          FrameType.DATA,
          concatBytes([
            encodeVarintCapsule(CapsuleType.WT_MAX_DATA, 200),
            encodeVarintCapsule(CapsuleType.WT_MAX_STREAMS_BIDI, 2),
            encodeVarintCapsule(CapsuleType.WT_MAX_STREAMS_UNI, 2),
            encodeVarintCapsule(CapsuleType.WT_DATA_BLOCKED, 100),
            encodeVarintCapsule(CapsuleType.WT_STREAMS_BLOCKED_BIDI, 1),
            encodeVarintCapsule(CapsuleType.WT_STREAMS_BLOCKED_UNI, 0),
            encodeCapsule(CapsuleType.DRAIN_WEBTRANSPORT_SESSION, new Uint8Array(0)),
          ]),
        ),
      ),
      bidi,
      step(
        0,
        4,
        concatBytes([encodeVarint(FrameType.WEBTRANSPORT_STREAM), encodeVarint(0), text('x'.repeat(120))]),
      ),
    ]),
    // RFC 9114 section 4.4: a CONNECT with :scheme/:path and no :protocol is malformed.
    malformedConnect: concatBytes([
      control,
      step(
        0,
        0,
        encodeFrame(
          FrameType.HEADERS,
          encodeFieldSection([
            [':method', 'CONNECT'],
            [':scheme', 'https'],
            [':authority', 'a'],
            [':path', '/main'],
          ]),
        ),
      ),
    ]),
    // A reset is op 2, the selector, then the 16-bit code (no length byte).
    reset: concatBytes([control, session, Uint8Array.of(2, 0, 0x01, 0x0c)]),
  };
}

function h3FrameSeeds(): Record<string, Uint8Array> {
  const settings = encodeSettings(
    new Map([
      [Setting.ENABLE_CONNECT_PROTOCOL, 1],
      [Setting.H3_DATAGRAM, 1],
    ]),
  );
  return {
    settings: concatBytes([u16(1024), settings]),
    frames: concatBytes([
      u16(1024),
      encodeFrame(FrameType.HEADERS, encodeFieldSection([[':status', '200']])),
      encodeFrame(FrameType.DATA, text('body')),
      encodeFrame(0x21, new Uint8Array(3)),
    ]),
    tooLarge: concatBytes([u16(4), encodeFrame(FrameType.DATA, new Uint8Array(64))]),
  };
}

function qpackSeeds(): Record<string, Uint8Array> {
  return {
    connect: encodeFieldSection([
      [':method', 'CONNECT'],
      [':protocol', 'webtransport'],
      [':scheme', 'https'],
      [':authority', 'grid.example.com:4433'],
      [':path', '/main'],
      ['sec-webtransport-http3-draft02', '1'],
      ['user-agent', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/140'],
    ]),
    status: encodeFieldSection([
      [':status', '200'],
      ['sec-webtransport-http3-draft', 'draft02'],
    ]),
    huffman: huffmanEncode(text('www.example.com custom-key custom-value')),
  };
}

/** WebTransport over HTTP/2: role byte (0 server), capsule limit (u16), then the CONNECT stream's bytes. */
function h2WebTransportSeeds(): Record<string, Uint8Array> {
  const server = (...capsules: Uint8Array[]) => concatBytes([Uint8Array.of(0), u16(65535), ...capsules]);
  const stream = (id: number, data: Uint8Array, fin = false) => encodeStreamCapsule(id, data, fin);
  const join = frameMessage(
    encodeRequest(1, 'JoinRoom', { token: 'x.y.z', room_id: 'lobby', user_data: text(''), position: [0, 0] }),
  );
  return {
    mainStreamAndVoice: server(
      encodeVarintCapsule(CapsuleType.WT_MAX_DATA, 1 << 24),
      encodeVarintCapsule(CapsuleType.WT_MAX_STREAMS_BIDI, 16),
      stream(0, join),
      stream(4, frameMessage(encodeMsgpack(12345))),
      encodeCapsule(
        CapsuleType.DATAGRAM,
        encodeVoicePacket({ mediaIds: [1], seq: 1, ts: 960, opus: new Uint8Array(60) }),
      ),
      stream(4, new Uint8Array(), true),
      encodeCloseSession(0, 'bye'),
    ),
    resetAndStop: server(
      stream(0, text('abc')),
      encodeVarintsCapsule(H2CapsuleType.WT_RESET_STREAM, [0, 7, 3]),
      stream(4, text('x')),
      encodeVarintsCapsule(H2CapsuleType.WT_STOP_SENDING, [4, 9]),
      encodeVarintsCapsule(H2CapsuleType.WT_MAX_STREAM_DATA, [4, 1 << 20]),
      encodeVarintsCapsule(H2CapsuleType.WT_STREAM_DATA_BLOCKED, [4, 100]),
      encodeCapsule(CapsuleType.DRAIN_WEBTRANSPORT_SESSION, new Uint8Array()),
      encodeCapsule(H2CapsuleType.PADDING, new Uint8Array(8)),
    ),
    flowControlViolation: server(
      encodeVarintCapsule(CapsuleType.WT_MAX_DATA, 10),
      encodeVarintCapsule(CapsuleType.WT_MAX_DATA, 5),
    ),
    oversizedCapsule: concatBytes([
      Uint8Array.of(0),
      u16(1024),
      encodeVarint(H2CapsuleType.WT_STREAM),
      encodeVarint(1 << 30),
    ]),
    serverStreamFromClient: server(stream(1, text('only the server opens odd ids'))),
    clientRole: concatBytes([
      Uint8Array.of(1),
      u16(65535),
      encodeVarintCapsule(CapsuleType.WT_MAX_STREAMS_BIDI, 4),
      stream(1, text('server-opened')),
      encodeVarintsCapsule(H2CapsuleType.WT_RESET_STREAM, [1, 0, 0]),
    ]),
  };
}

function capsuleSeeds(): Record<string, Uint8Array> {
  return {
    close: concatBytes([u16(2048), encodeCloseSession(3, 'no_peers_timeout')]),
    drain: concatBytes([u16(2048), encodeCapsule(CapsuleType.DRAIN_WEBTRANSPORT_SESSION, new Uint8Array())]),
    unknownThenClose: concatBytes([
      u16(2048),
      encodeCapsule(0x17, text('grease')),
      encodeCloseSession(0, ''),
    ]),
  };
}

function varintSeeds(): Record<string, Uint8Array> {
  return {
    varints: concatBytes([
      encodeVarint(37),
      encodeVarint(15293),
      encodeVarint(494878333),
      encodeVarint(2 ** 53 - 1),
    ]),
    messages: concatBytes([
      u16(1000),
      frameMessage(encodeMsgpack(42)),
      frameMessage(encodeRequest(0, 'Ping', {})),
    ]),
  };
}

/** A STUN message (RFC 8489 section 5) with optional attributes. */
function stun(type: number, attributes: Uint8Array[] = []): Uint8Array {
  const body = concatBytes(attributes);
  const header = new Uint8Array(20);
  const view = new DataView(header.buffer);
  view.setUint16(0, type);
  view.setUint16(2, body.length);
  view.setUint32(4, 0x2112a442);
  header.set(text('transaction1'), 8);
  return concatBytes([header, body]);
}

function attribute(type: number, value: Uint8Array): Uint8Array {
  const padded = new Uint8Array(4 + ((value.length + 3) & ~3));
  new DataView(padded.buffer).setUint16(0, type);
  new DataView(padded.buffer).setUint16(2, value.length);
  padded.set(value, 4);
  return padded;
}

function udpMuxSeeds(): Record<string, Uint8Array> {
  const port = u16(5);
  return {
    bindingRequest: concatBytes([port, stun(0x0001, [attribute(0x0006, text('fuzz:remote'))])]),
    unknownUfrag: concatBytes([port, stun(0x0001, [attribute(0x0006, text('other:remote'))])]),
    successResponse: concatBytes([port, stun(0x0101)]),
    dtlsClientHello: concatBytes([
      port,
      Uint8Array.of(22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4),
    ]),
    rtp: concatBytes([port, Uint8Array.of(0x80, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2)]),
  };
}

/** An ICE-TCP input: a source port, then the stream in chunks of `size` (1..97) bytes. */
function iceTcpInput(stream: Uint8Array, size: number): Uint8Array {
  const parts: Uint8Array[] = [u16(7)];
  for (let at = 0; at < stream.length; at += size) {
    parts.push(Uint8Array.of(size - 1), stream.subarray(at, at + size));
  }
  return concatBytes(parts);
}

/** RFC 4571 §2 framing: a 16-bit length, then the datagram. */
function tcpFrame(datagram: Uint8Array): Uint8Array {
  return concatBytes([u16(datagram.length), datagram]);
}

function iceTcpSeeds(): Record<string, Uint8Array> {
  const check = stun(0x0001, [attribute(0x0006, text('fuzz:remote'))]);
  const dtls = Uint8Array.of(22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4);
  const authenticated = concatBytes([tcpFrame(check), tcpFrame(dtls), tcpFrame(Uint8Array.of(23, 1, 2))]);
  return {
    checkThenDtls: iceTcpInput(authenticated, 97),
    checkThenDtlsByteByByte: iceTcpInput(authenticated, 1),
    unknownUfrag: iceTcpInput(tcpFrame(stun(0x0001, [attribute(0x0006, text('other:remote'))])), 97),
    httpGarbage: iceTcpInput(text('GET / HTTP/1.1\r\nHost: grid\r\n\r\n'), 13),
    oversizedStun: iceTcpInput(concatBytes([u16(4000), stun(0x0001).subarray(0, 20)]), 97),
    halfFrame: iceTcpInput(tcpFrame(check).subarray(0, 9), 97),
    indicationBeforeCheck: iceTcpInput(tcpFrame(stun(0x0011)), 97),
  };
}

async function jwtSeeds(): Promise<Record<string, Uint8Array>> {
  const signed = await signToken(
    FUZZ_ACCESS_KEY,
    { rid: ['lobby', 'other'], uid: 'alice' },
    { now: FUZZ_NOW_MS },
  );
  const gateway = await signToken(
    FUZZ_ACCESS_KEY,
    { rid: 'lobby', uid: 'bob', nsp: 'ns' },
    { now: FUZZ_NOW_MS, audience: 'gateway' },
  );
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${b64({ alg: 'none' })}.${b64({ rid: 'lobby', uid: 'x', exp: FUZZ_NOW_MS / 1000 + 60 })}.`;
  return {
    signed: concatBytes([Uint8Array.of(0), text(signed)]),
    gateway: concatBytes([Uint8Array.of(2), text(gateway)]),
    unsignedLenient: concatBytes([Uint8Array.of(1), text(unsigned)]),
    unsignedStrict: concatBytes([Uint8Array.of(0), text(unsigned)]),
  };
}

const seeds: Record<string, Record<string, Uint8Array>> = {
  msgpackRpc: msgpackRpcSeeds(),
  rpcParams: rpcParamsSeeds(),
  voicePacket: voicePacketSeeds(),
  h3Connection: h3ConnectionSeeds(),
  h3Frame: h3FrameSeeds(),
  qpack: qpackSeeds(),
  capsule: capsuleSeeds(),
  h2WebTransport: h2WebTransportSeeds(),
  varint: varintSeeds(),
  udpMux: udpMuxSeeds(),
  iceTcp: iceTcpSeeds(),
  jwt: await jwtSeeds(),
};

for (const [target, files] of Object.entries(seeds)) {
  const dir = join(corpus, target);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, `seed-${name}`), bytes);
  console.log(`${target}: ${Object.keys(files).length} seeds`);
}
