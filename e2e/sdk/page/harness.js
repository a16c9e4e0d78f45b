// Runs inside the test page (browser JavaScript, bundled with @4players/odin by esbuild).
//
// A thin, observable wrapper around the real web SDK: the tests call these functions through
// `page.evaluate` and read back plain data (event logs, counters), never SDK objects. Everything
// here uses the SDK's public API as its README shows it; the one exception is `webRtcStats`,
// which reads the SDK's own RTCPeerConnection to learn which server port voice went through.
import { OdinClient } from '@4players/odin';

/** @type {import('@4players/odin').OdinRoom | undefined} */
let room;
/** @type {import('@4players/odin').OdinMedia | undefined} */
let ownMedia;
const events = [];
const audio = { statsEvents: 0, last: undefined, maxPacketsProcessed: 0, maxPacketsSeen: 0, history: [] };
const remoteMediaStarts = [];

function record(kind, fields) {
  events.push({ kind, at: Math.round(performance.now()), ...fields });
}

/**
 * Authenticates through the gateway Connect call, sets up WebRTC, and joins the token's room.
 * Remote medias are started as soon as they are announced, as the SDK's README does.
 */
async function join({ token, gatewayUrl, userData }) {
  room = await OdinClient.initRoom(token, gatewayUrl);
  room.addEventListener('PeerJoined', (event) => {
    const peer = event.payload.peer;
    record('PeerJoined', {
      peerId: peer.id,
      userId: peer.userId,
      remote: peer.remote,
      userData: Array.from(peer.data ?? []),
    });
  });
  room.addEventListener('PeerLeft', (event) => record('PeerLeft', { peerId: event.payload.peer.id }));
  room.addEventListener('MessageReceived', (event) =>
    record('MessageReceived', {
      senderId: event.payload.senderId,
      message: Array.from(event.payload.message),
    }),
  );
  room.addEventListener('MediaStarted', (event) => {
    const { peer, media } = event.payload;
    record('MediaStarted', { peerId: peer.id, mediaId: media.id, remote: media.remote });
    if (media.remote) {
      remoteMediaStarts.push(
        media.start().then(
          () => record('RemoteMediaStarted', { mediaId: media.id }),
          (error) => record('RemoteMediaStartFailed', { mediaId: media.id, error: String(error) }),
        ),
      );
    }
  });
  room.addEventListener('MediaStopped', (event) =>
    record('MediaStopped', { peerId: event.payload.peer.id, mediaId: event.payload.media.id }),
  );
  room.addEventListener('MediaActivity', (event) => {
    const { peer, media } = event.payload;
    record('MediaActivity', {
      peerId: peer.id,
      mediaId: media.id,
      active: media.active,
      remote: media.remote,
    });
  });
  room.addEventListener('AudioStats', (event) => {
    const decoder = event.payload.stats.decoder;
    audio.statsEvents += 1;
    audio.last = { decoder, encoder: event.payload.stats.encoder };
    audio.maxPacketsProcessed = Math.max(audio.maxPacketsProcessed, decoder?.packets_processed ?? 0);
    audio.maxPacketsSeen = Math.max(audio.maxPacketsSeen, decoder?.packets_seen ?? 0);
    // The last minute of decoder counters (one AudioStats event a second), to see trends.
    audio.history.push({ at: Math.round(performance.now()), ...decoder });
    if (audio.history.length > 60) audio.history.shift();
  });
  room.addEventListener('Left', () => record('Left', {}));
  const ownPeer = await room.join(new Uint8Array(userData ?? []));
  return {
    ownPeerId: ownPeer.id,
    roomId: room.id,
    serverAddress: room.serverAddress,
    remotePeers: [...room.remotePeers.values()].map((peer) => ({ peerId: peer.id, userId: peer.userId })),
  };
}

/**
 * Captures the (fake) microphone and starts a media on it. Browser processing is off so the
 * encoder sees the test signal as it is, and the SDK's VAD and volume gate are off so it sends
 * every frame (with them on, a sine tone may be judged "no speech" and never sent).
 */
async function startMicrophone() {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  ownMedia = await room.createMedia(stream, {
    voiceActivityDetection: false,
    voiceActivityDetectionAttackProbability: 0.9,
    voiceActivityDetectionReleaseProbability: 0.8,
    volumeGate: false,
    volumeGateAttackLoudness: -30,
    volumeGateReleaseLoudness: -40,
  });
  await ownMedia.start();
  return { mediaId: ownMedia.id, track: stream.getAudioTracks()[0]?.label ?? '' };
}

async function sendMessage(bytes, targetPeerIds) {
  await room.sendMessage(new Uint8Array(bytes), targetPeerIds);
}

/** Leaves the room and closes every connection of this page's client. */
function leave() {
  OdinClient.disconnect();
}

function snapshot() {
  return {
    clientState: OdinClient.connectionState,
    roomState: room?.connectionState,
    remotePeerIds: room ? [...room.remotePeers.keys()] : [],
    events: events.slice(),
    audio: structuredClone(audio),
  };
}

/**
 * The SDK's RTCPeerConnection, as the browser reports it: connection state and the selected
 * ICE candidate pair's remote address. `_rtcHandler` is private in the SDK's typings but a
 * plain property at run time; its `getStats()` is the SDK's own method.
 */
async function webRtcStats() {
  const handler = OdinClient._rtcHandler;
  if (!handler) return { available: false };
  const report = await handler.getStats();
  const byId = new Map(report); // RTCStatsReport is maplike: id → stats
  const transport = [...byId.values()].find((entry) => entry.type === 'transport');
  const pair = transport ? byId.get(transport.selectedCandidatePairId) : undefined;
  const remote = pair ? byId.get(pair.remoteCandidateId) : undefined;
  const local = pair ? byId.get(pair.localCandidateId) : undefined;
  const channel = [...byId.values()].find(
    (entry) => entry.type === 'data-channel' && entry.label === 'audio',
  );
  return {
    available: true,
    dtlsState: transport?.dtlsState,
    pairState: pair?.state,
    remoteAddress: remote?.address ?? remote?.ip,
    remotePort: remote?.port,
    remoteProtocol: remote?.protocol,
    localProtocol: local?.protocol,
    localTcpType: local?.tcpType,
    bytesSent: pair?.bytesSent ?? 0,
    bytesReceived: pair?.bytesReceived ?? 0,
    audioChannel: channel
      ? {
          state: channel.state,
          messagesSent: channel.messagesSent,
          messagesReceived: channel.messagesReceived,
        }
      : undefined,
  };
}

globalThis.odinHarness = { join, startMicrophone, sendMessage, leave, snapshot, webRtcStats };
