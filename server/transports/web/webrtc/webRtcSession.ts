/**
 * One web client's WebRTC connection: a werift peer connection on the shared UDP port (and the
 * ICE-TCP listener on the same port number, iceTcp.ts), carrying
 * voice on the negotiated data channel "audio" (id 2, unordered, no retransmissions), as the
 * ODIN web SDK creates it (docs ODIN-PROTOCOL.md §2 "SetupWebRtc", §3 "WebRtcUpdate").
 *
 * The server is an ICE-lite agent (RFC 8445 §2.5), like mediasoup: it answers connectivity checks
 * and sends none, so it needs no remote candidates, no STUN server and no consent checks of its
 * own. A client that stops sending anything (browsers send consent checks every ~5 s) is
 * detected by the mux's idle sweep.
 *
 * `sendVoice` is on the hot path: no promise, no logging. It only queues: once per event-loop
 * turn (one `setImmediate` for all sessions) each session hands what its SCTP association can
 * send now to werift in one batch (`sendMany`: one transmit, DATA chunks bundled up to the MTU,
 * the due SACK in front), and the rest waits for the next SACK (`onWritable`). Voice that waited
 * longer than `maxVoiceAgeMs` is dropped (`too_late`), as ODIN drops voice older than 100 ms for
 * web clients: late audio is worse than none.
 */
import { isIP } from 'node:net';
import { type RTCDataChannel, RTCPeerConnection } from 'werift';
import { installNativeRecordAead } from './nativeRecordAead.ts';
import { iceUfragOf, removeCandidates, replaceCandidates } from './sdpCandidates.ts';
import type { EndpointCloseCause, UdpMux, UdpMuxEndpoint, WebRtcLogger } from './udpMux.ts';
import { muxedIceConfiguration } from './weriftUdpHook.ts';

/** The ODIN voice channel (ODIN-PROTOCOL.md §2). */
export const AUDIO_CHANNEL = { label: 'audio', id: 2, ordered: false, maxRetransmits: 0 } as const;

export const defaultWebRtcSessionParams = {
  /** ICE + DTLS + SCTP must be up this long after the session is created. */
  connectTimeoutMs: 10_000,
  /** `sendVoice` drops packets while the channel has more than this queued (~160 voice packets). */
  maxBufferedBytes: 16 * 1024,
  /** Queued voice older than this is dropped instead of sent (ODIN's limit for web clients). */
  maxVoiceAgeMs: 100,
} as const;

/** What patches/werift+0.25.2.patch adds to werift's data channel (the batch send path). */
interface BatchDataChannel {
  /** Binary messages buffers[start..end) in one SCTP transmit; false = not sendable now, nothing sent. */
  sendMany(buffers: readonly Buffer[], start: number, end: number): boolean;
  /** Bytes the association would send now (congestion and peer window); 0 = wait for onWritable. */
  readonly sendBudget: number;
  /** Called after a SACK was processed: the window may have opened. */
  onWritable: (() => void) | undefined;
}

export type WebRtcSessionState = 'new' | 'connecting' | 'connected' | 'closed';

/** Outgoing signalling for generation B (`WebRtcUpdate` notifications, ODIN-PROTOCOL.md §3). */
export type WebRtcLocalSignal =
  | { kind: 'Sdp'; type: 'Offer' | 'Answer'; sdp: string }
  | { kind: 'TrickleFinished' };

/** Which candidates the answer advertises (`webrtc_enforce_tcp` leaves out UDP). */
export interface WebRtcCandidateTransports {
  udp: boolean;
  tcp: boolean;
}

/**
 * Voice packets by the transport of the session's selected path, summed over sessions (the
 * listener's metrics). Plain fields: incremented on the hot path.
 */
export interface WebVoiceTransportCounters {
  receivedUdp: number;
  receivedTcp: number;
  forwardedUdp: number;
  forwardedTcp: number;
}

export function newWebVoiceTransportCounters(): WebVoiceTransportCounters {
  return { receivedUdp: 0, receivedTcp: 0, forwardedUdp: 0, forwardedTcp: 0 };
}

export interface WebRtcRemoteCandidate {
  candidate: string;
  sdpMid?: string;
  sdpMLineIndex?: number;
  usernameFragment?: string;
}

export interface WebRtcSessionParams {
  mux: UdpMux;
  /** Advertised addresses (`webrtc_candidates`, default derived from `public_address`): IPs or host names. */
  candidates: readonly string[];
  /** Advertised port: the `webrtc_binding` port (what clients reach; may differ behind NAT). */
  port: number;
  /** Candidates to advertise on that port. Default UDP only. */
  transports?: WebRtcCandidateTransports;
  /** Per-transport voice counts to add to (shared by the listener's sessions). */
  voiceCounters?: WebVoiceTransportCounters;
  /** Each binary message of the "audio" channel. The bytes are werift's; copy to keep them. */
  onVoice: (bytes: Uint8Array) => void;
  /** Called exactly once when the session ends, whoever ended it. */
  onClosed: (reason: string) => void;
  /** Generation B: SDP and end-of-candidates to send to the client. */
  onLocalSignal?: (signal: WebRtcLocalSignal) => void;
  /** The voice channel is open. */
  onConnected?: () => void;
  logger?: WebRtcLogger;
  connectTimeoutMs?: number;
  maxBufferedBytes?: number;
  maxVoiceAgeMs?: number;
  /** Milliseconds, for the age of queued voice; injectable for tests. Default: performance.now. */
  now?: () => number;
}

export interface WebRtcSessionStats {
  voiceIn: number;
  voiceOut: number;
  /** Packets `sendVoice` refused (channel not open or over `maxBufferedBytes`). */
  voiceDropped: number;
  /** Packets accepted by `sendVoice` and dropped later: queued longer than `maxVoiceAgeMs`. */
  voiceTooLate: number;
}

export interface WebRtcSession {
  readonly state: WebRtcSessionState;
  readonly stats: Readonly<WebRtcSessionStats>;
  /** The transport the client's DTLS arrived on last: what its voice travels over. */
  readonly transport: 'udp' | 'tcp';
  /** The voice channel as werift holds it (what the server actually applies). */
  readonly channelParameters: {
    label: string;
    id: number;
    negotiated: boolean;
    ordered: boolean;
    maxRetransmits: number | null;
  };
  /** Generation A (`SetupWebRtc`): offer in, complete answer out (no trickle). */
  answer(offerSdp: string): Promise<string>;
  /** Generation B: a remote `Sdp` update. An offer is answered through `onLocalSignal`. */
  handleRemoteSdp(description: { type: 'Offer' | 'Answer'; sdp: string }): Promise<void>;
  /** Generation B: a remote `Trickle`. Accepted and ignored: an ICE-lite server needs none. */
  addRemoteCandidate(candidate: WebRtcRemoteCandidate): Promise<void>;
  /** Queues one voice packet; false = dropped (not open, or congested). Don't mutate `bytes` afterwards. */
  sendVoice(bytes: Uint8Array): boolean;
  /** Frees the peer connection and the mux registration. Idempotent. */
  close(): Promise<void>;
}

export function createWebRtcSession(params: WebRtcSessionParams): WebRtcSession {
  return new Session(params);
}

let openPeerConnections = 0;
let voiceTooLateTotal = 0;

/** Voice packets all sessions dropped as too late (queued > `maxVoiceAgeMs`), for the drop metric. */
export function webVoiceTooLate(): number {
  return voiceTooLateTotal;
}

/** Sessions with voice queued this turn; flushed together by one setImmediate. */
const dirtySessions: Session[] = [];
let flushScheduled = false;

function flushDirtySessions(): void {
  flushScheduled = false;
  // A flush never re-queues synchronously (werift's SACK handling runs on later I/O), so the
  // list can be walked and cleared.
  for (let i = 0; i < dirtySessions.length; i++) dirtySessions[i]!.flushVoice();
  dirtySessions.length = 0;
}

/** Server peer connections created and not yet fully closed (leak checks, metrics). */
export function openWebRtcPeerConnections(): number {
  return openPeerConnections;
}

/** The host werift gathers on: an advertised IP of the mux's family, else the bound address. */
function gatherHostFor(mux: UdpMux, candidates: readonly string[]): string {
  const bound = mux.address();
  const family = bound.family === 'IPv6' ? 6 : 4;
  return candidates.find((host) => isIP(host) === family) ?? bound.address;
}

class Session implements WebRtcSession {
  readonly #params: WebRtcSessionParams;
  readonly #logger: WebRtcLogger | undefined;
  readonly #endpoint: UdpMuxEndpoint;
  readonly #pc: RTCPeerConnection;
  readonly #channel: RTCDataChannel & BatchDataChannel;
  readonly #maxBufferedBytes: number;
  readonly #voiceCounters: WebVoiceTransportCounters;
  readonly #maxVoiceAgeMs: number;
  readonly #stats: WebRtcSessionStats = { voiceIn: 0, voiceOut: 0, voiceDropped: 0, voiceTooLate: 0 };
  readonly #now: () => number;
  /** Voice waiting for the next flush, with the time each was queued (#now()). */
  readonly #voiceQueue: Buffer[] = [];
  readonly #voiceQueuedAt: number[] = [];
  #voiceHead = 0;
  #voiceQueuedBytes = 0;
  #dirty = false;
  #state: WebRtcSessionState = 'new';
  #connectTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  #ignoredRemoteCandidates = 0;

  constructor(params: WebRtcSessionParams) {
    if (params.candidates.length === 0) throw new Error('WebRTC session: no candidates to advertise');
    this.#params = params;
    this.#logger = params.logger;
    this.#maxBufferedBytes = params.maxBufferedBytes ?? defaultWebRtcSessionParams.maxBufferedBytes;
    this.#voiceCounters = params.voiceCounters ?? newWebVoiceTransportCounters();
    this.#maxVoiceAgeMs = params.maxVoiceAgeMs ?? defaultWebRtcSessionParams.maxVoiceAgeMs;
    this.#now = params.now ?? (() => performance.now());
    this.#endpoint = params.mux.createEndpoint();
    installNativeRecordAead();
    this.#pc = new RTCPeerConnection({
      iceServers: [],
      bundlePolicy: 'max-bundle',
      iceLite: true,
      ...muxedIceConfiguration(params.mux, this.#endpoint, gatherHostFor(params.mux, params.candidates)),
    });
    openPeerConnections++;
    this.#channel = this.#pc.createDataChannel(AUDIO_CHANNEL.label, {
      negotiated: true,
      id: AUDIO_CHANNEL.id,
      ordered: AUDIO_CHANNEL.ordered,
      maxRetransmits: AUDIO_CHANNEL.maxRetransmits,
    }) as RTCDataChannel & BatchDataChannel;
    if (typeof this.#channel.sendMany !== 'function') {
      throw new Error('werift is not patched (no RTCDataChannel.sendMany): run npm install (patch-package)');
    }
    const onVoice = params.onVoice;
    const stats = this.#stats;
    const voiceCounters = this.#voiceCounters;
    const endpoint = this.#endpoint;
    this.#channel.onMessage.subscribe((data) => {
      if (typeof data === 'string') return; // voice is binary MessagePack; text is not ours
      stats.voiceIn++;
      if (endpoint.transport === 'tcp') voiceCounters.receivedTcp++;
      else voiceCounters.receivedUdp++;
      onVoice(data);
    });
    this.#channel.onWritable = () => {
      if (this.#voiceHead < this.#voiceQueue.length) this.flushVoice();
    };
    this.#channel.stateChanged.subscribe((state) => {
      if (state === 'open') this.#onOpen();
      else if (state === 'closed') void this.#end('data channel closed');
    });
    this.#pc.connectionStateChange.subscribe((state) => {
      if (state === 'failed') void this.#end('webrtc connection failed');
      else if (state === 'closed') void this.#end('webrtc connection closed');
    });
    this.#endpoint.onIdle = () => void this.#end('ice timeout: no packets from the client', 'idle');
    this.#endpoint.onDataPathClosed = () => void this.#end('the ICE-TCP connection carrying DTLS closed');
    const timeoutMs = params.connectTimeoutMs ?? defaultWebRtcSessionParams.connectTimeoutMs;
    this.#connectTimer = setTimeout(
      () => void this.#end(`not connected within ${timeoutMs} ms`, 'not_connected'),
      timeoutMs,
    );
    this.#connectTimer.unref();
  }

  get state(): WebRtcSessionState {
    return this.#state;
  }

  get stats(): Readonly<WebRtcSessionStats> {
    return { ...this.#stats };
  }

  get transport(): 'udp' | 'tcp' {
    return this.#endpoint.transport;
  }

  get channelParameters(): WebRtcSession['channelParameters'] {
    const channel = this.#channel;
    return {
      label: channel.label,
      id: channel.id,
      negotiated: channel.negotiated,
      ordered: channel.ordered,
      maxRetransmits: channel.maxRetransmits,
    };
  }

  async answer(offerSdp: string): Promise<string> {
    if (this.#state === 'closed') throw new Error('WebRTC session is closed');
    try {
      await this.#pc.setRemoteDescription({ type: 'offer', sdp: removeCandidates(offerSdp) });
      await this.#pc.setLocalDescription(await this.#pc.createAnswer());
      return this.#registerLocalDescription();
    } catch (error) {
      const reason = `SetupWebRtc: cannot answer the offer: ${(error as Error).message}`;
      void this.#end(reason);
      throw new Error(reason, { cause: error });
    }
  }

  async handleRemoteSdp(description: { type: 'Offer' | 'Answer'; sdp: string }): Promise<void> {
    if (this.#state === 'closed') throw new Error('WebRTC session is closed');
    if (description.type === 'Offer') {
      const sdp = await this.answer(description.sdp);
      this.#params.onLocalSignal?.({ kind: 'Sdp', type: 'Answer', sdp });
      this.#params.onLocalSignal?.({ kind: 'TrickleFinished' });
      return;
    }
    await this.#pc.setRemoteDescription({ type: 'answer', sdp: removeCandidates(description.sdp) });
  }

  async addRemoteCandidate(_candidate: WebRtcRemoteCandidate): Promise<void> {
    // ICE lite (RFC 8445 §2.5): the client's checks reveal its address (peer-reflexive), so
    // remote candidates are never used. Ignoring them also keeps werift from resolving mDNS
    // ".local" names on the server.
    this.#ignoredRemoteCandidates++;
  }

  sendVoice(bytes: Uint8Array): boolean {
    if (this.#channel.readyState !== 'open' || this.#voiceQueuedBytes > this.#maxBufferedBytes) {
      this.#stats.voiceDropped++;
      return false;
    }
    this.#voiceQueue.push(
      Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    );
    this.#voiceQueuedAt.push(this.#now());
    this.#voiceQueuedBytes += bytes.byteLength;
    if (!this.#dirty) {
      this.#dirty = true;
      dirtySessions.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushDirtySessions);
      }
    }
    this.#stats.voiceOut++;
    if (this.#endpoint.transport === 'tcp') this.#voiceCounters.forwardedTcp++;
    else this.#voiceCounters.forwardedUdp++;
    return true;
  }

  /** Internal (the per-turn flush and the channel's writable notification): send what SCTP takes now. */
  flushVoice(): void {
    this.#dirty = false;
    const now = this.#now();
    const queue = this.#voiceQueue;
    const queuedAt = this.#voiceQueuedAt;
    let head = this.#voiceHead;
    const oldest = now - this.#maxVoiceAgeMs;
    while (head < queue.length && queuedAt[head]! < oldest) {
      this.#voiceQueuedBytes -= queue[head]!.length;
      this.#stats.voiceTooLate++;
      voiceTooLateTotal++;
      head++;
    }
    const channel = this.#channel;
    if (head < queue.length && channel.readyState === 'open') {
      let budget = channel.sendBudget;
      let end = head;
      let bytes = 0;
      while (end < queue.length && budget > 0) {
        const length = queue[end]!.length;
        budget -= length;
        bytes += length;
        end++;
      }
      if (end > head && channel.sendMany(queue, head, end)) {
        this.#voiceQueuedBytes -= bytes;
        head = end;
      }
    }
    if (head === queue.length) {
      queue.length = 0;
      queuedAt.length = 0;
      head = 0;
    } else if (head >= 256) {
      queue.splice(0, head);
      queuedAt.splice(0, head);
      head = 0;
    }
    this.#voiceHead = head;
  }

  close(): Promise<void> {
    return this.#end('closed by the server');
  }

  /** The local description is final: register its ufrag on the mux, advertise our candidates. */
  #registerLocalDescription(): string {
    const local = this.#pc.localDescription;
    if (!local) throw new Error('no local description');
    const ufrag = iceUfragOf(local.sdp);
    if (ufrag === undefined) throw new Error('local description without a=ice-ufrag');
    if (this.#endpoint.ufrags.length === 0) this.#endpoint.addUfrag(ufrag);
    else this.#endpoint.restartIce(ufrag); // a new ufrag = an ICE restart; same ufrag = no-op
    if (this.#state === 'new') this.#state = 'connecting';
    return replaceCandidates(
      local.sdp,
      this.#params.candidates,
      this.#params.port,
      this.#params.transports ?? { udp: true, tcp: false },
    );
  }

  #onOpen(): void {
    if (this.#state === 'closed' || this.#state === 'connected') return;
    this.#state = 'connected';
    clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
    this.#logger?.debug({ ufrags: this.#endpoint.ufrags }, 'webrtc voice channel open');
    this.#params.onConnected?.();
  }

  #end(reason: string, cause: EndpointCloseCause = 'ended'): Promise<void> {
    if (this.#closing) return this.#closing;
    // pc.close() below re-enters through the state events: #closing must be set before it runs.
    let settle!: () => void;
    this.#closing = new Promise<void>((resolve) => {
      settle = resolve;
    });
    this.#state = 'closed';
    clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
    this.#endpoint.close(cause);
    this.#logger?.debug(
      { reason, stats: this.#stats, ignoredRemoteCandidates: this.#ignoredRemoteCandidates },
      'webrtc session closed',
    );
    void this.#pc
      .close()
      .catch((error: unknown) => this.#logger?.warn({ err: error }, 'webrtc peer connection close failed'))
      .then(() => {
        openPeerConnections--;
        try {
          this.#params.onClosed(reason);
        } catch (error) {
          this.#logger?.warn({ err: error }, 'webrtc onClosed callback threw');
        }
        settle();
      });
    return this.#closing;
  }
}
