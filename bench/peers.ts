/**
 * One load-test peer on each transport, through the project's own clients: connect, join a
 * room, start a media (speakers), send and receive voice packets.
 *
 *   quic  OdinQuicClient: WebTransport session, JoinRoom {token} on the main stream (gen. B);
 *         with `quicEndpoint` (the native addon built) all sessions of a worker share one native
 *         endpoint, and received voice is stamped and timed in the addon (`voiceInSink`)
 *   http2 the same client forced onto WebTransport over HTTP/2 (the [http] TCP port)
 *   web   OdinClient: WebSocket /main + WebRTC data channel "audio", JoinRoom (gen. A)
 *   web-tcp  the same with the data channel over ICE-TCP (RFC 6544), as behind a UDP-blocking network
 *   udp   a bare UDP socket talking to bench/udpRelay.ts (the baseline: no protocol at all)
 */
import { createSocket } from 'node:dgram';
import { OdinClient } from '../client/odinClient.ts';
import { OdinQuicClient } from '../client/quic/odinQuicClient.ts';
import type { SharedClientEndpoint } from '../client/quic/webTransportClient.ts';

export type PeerTransport = 'quic' | 'web' | 'web-tcp' | 'udp' | 'http2';

export type BenchPeer = {
  /** The media a speaker sends on (0 for listeners and udp). */
  readonly mediaId: number;
  /** HOT PATH: sends one voice packet; `bytes` may be reused by the caller after the call. */
  sendVoice(bytes: Uint8Array): boolean;
  onVoice(listener: (bytes: Uint8Array) => void): void;
  /**
   * Its voice never reaches `onVoice`: the shared native endpoint keeps the stamps
   * (SharedClientEndpoint.takeVoiceStamps), so receiving costs no JavaScript per packet.
   */
  readonly voiceInSink?: boolean;
  close(): Promise<void>;
};

export type Joined = {
  peer: BenchPeer;
  /** Transport set-up (QUIC + HTTP/3 + WebTransport; WebSocket + Authenticate + WebRTC), ms. */
  connectMs: number;
  /** JoinRoom until the Joined event (udp: the relay's answer), ms. */
  joinMs: number;
};

export type PeerParams = {
  transport: PeerTransport;
  /** host:port of the listener for `transport`. */
  address: string;
  token: string;
  room: string;
  speaker: boolean;
  timeoutMs: number;
  /** quic: the worker's shared native endpoint (see the header). */
  quicEndpoint?: SharedClientEndpoint;
};

function splitHostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(address.slice(colon + 1)) };
}

export function joinPeer(params: PeerParams): Promise<Joined> {
  switch (params.transport) {
    case 'quic':
    case 'http2':
      return joinQuic(params);
    case 'web':
      return joinWeb(params, 'udp');
    case 'web-tcp':
      return joinWeb(params, 'tcp');
    case 'udp':
      return joinUdp(params);
  }
}

async function joinQuic(params: PeerParams): Promise<Joined> {
  const { host, port } = splitHostPort(params.address);
  const t0 = performance.now();
  const client = await OdinQuicClient.connect({
    host,
    port,
    insecure: true,
    timeoutMs: params.timeoutMs,
    requestTimeoutMs: params.timeoutMs,
    transport: params.transport === 'http2' ? 'http2' : 'quic',
    ...(params.quicEndpoint === undefined || params.transport === 'http2'
      ? {}
      : { endpoint: params.quicEndpoint }),
    log: () => {},
  });
  const t1 = performance.now();
  try {
    const room = await client.joinRoom(params.token, params.room);
    const t2 = performance.now();
    if (params.speaker) await room.startMedia();
    const mediaId = params.speaker ? room.mediaId : 0;
    const sink = client.quic?.native !== undefined && client.quic.native === params.quicEndpoint;
    if (sink) params.quicEndpoint!.setVoiceSink(client.quic!.h3.quic, true);
    return {
      connectMs: t1 - t0,
      joinMs: t2 - t1,
      peer: {
        mediaId,
        voiceInSink: sink,
        sendVoice: (bytes) => client.sendVoice(bytes),
        onVoice: (listener) => {
          client.onVoice = listener;
        },
        close: () => client.close(),
      },
    };
  } catch (error) {
    await client.close();
    throw error;
  }
}

async function joinWeb(params: PeerParams, voiceTransport: 'udp' | 'tcp'): Promise<Joined> {
  const t0 = performance.now();
  const client = await OdinClient.connect(params.address, params.token, {
    insecure: true,
    localAddress: '127.0.0.1',
    voiceTransport,
    requestTimeoutMs: params.timeoutMs,
  });
  const t1 = performance.now();
  try {
    const room = await client.joinRoom(params.room);
    const t2 = performance.now();
    if (params.speaker) await room.startMedia();
    const mediaId = params.speaker ? room.mediaId : 0;
    return {
      connectMs: t1 - t0,
      joinMs: t2 - t1,
      peer: {
        mediaId,
        // werift queues the buffer: it must not change after the call, so send a copy.
        sendVoice: (bytes) => client.sendVoice(Buffer.from(bytes)),
        onVoice: (listener) => client.onVoice(listener),
        close: () => client.close(),
      },
    };
  } catch (error) {
    await client.close();
    throw error;
  }
}

async function joinUdp(params: PeerParams): Promise<Joined> {
  const { host, port } = splitHostPort(params.address);
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  let listener: ((bytes: Uint8Array) => void) | undefined;
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`udp relay ${params.address} did not answer`)),
      params.timeoutMs,
    );
    socket.once('message', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.send(Buffer.from(`J${params.room}`, 'latin1'), port, host);
  });
  const t1 = performance.now();
  socket.on('message', (message) => listener?.(message));
  return {
    connectMs: 0,
    joinMs: t1 - t0,
    peer: {
      mediaId: 1,
      // dgram may queue the buffer until the socket is writable: send a copy.
      sendVoice: (bytes) => {
        socket.send(Buffer.from(bytes), port, host);
        return true;
      },
      onVoice: (l) => {
        listener = l;
      },
      close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
    },
  };
}
