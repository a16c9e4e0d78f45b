/**
 * WebRTC voice for the Node client, as the ODIN web SDK does it (ODIN-PROTOCOL.md §2): an offer
 * with only the data-channel m-section, the negotiated channel "audio" (id 2, unordered, no
 * retransmissions), voice packets as binary messages both ways.
 *
 * Like the browser SDK's, the offer carries no candidates by default: the server learns the
 * client's address from its connectivity checks (a peer-reflexive candidate).
 */
import { type RTCDataChannel, RTCPeerConnection } from 'werift';

export const AUDIO_CHANNEL = { label: 'audio', id: 2, ordered: false, maxRetransmits: 0 } as const;

export interface WebRtcVoiceParams {
  /** Each binary message received on "audio". */
  onVoice?: (bytes: Uint8Array) => void;
  /** Gather only on this local IP (e.g. '127.0.0.1' in tests); default: werift's gathering. */
  localAddress?: string;
  /** Keep the client's host candidates in the offer (the browser SDK sends none). Default false. */
  offerCandidates?: boolean;
  /** `sendVoice` returns false while more than this is queued. Default 64 KiB. */
  maxBufferedBytes?: number;
  /**
   * 'tcp': connect only over ICE-TCP (RFC 6544, active), as a browser behind a network that
   * blocks UDP ends up doing; UDP pairs are never checked. Default 'udp'.
   */
  transport?: 'udp' | 'tcp';
}

export class WebRtcVoice {
  readonly #pc: RTCPeerConnection;
  readonly #channel: RTCDataChannel;
  readonly #offerCandidates: boolean;
  readonly #maxBufferedBytes: number;
  onVoice: ((bytes: Uint8Array) => void) | undefined;

  constructor(params: WebRtcVoiceParams = {}) {
    this.onVoice = params.onVoice;
    this.#offerCandidates = params.offerCandidates ?? false;
    this.#maxBufferedBytes = params.maxBufferedBytes ?? 64 * 1024;
    const local = params.localAddress;
    const tcpOnly = params.transport === 'tcp';
    this.#pc = new RTCPeerConnection({
      iceServers: [],
      bundlePolicy: 'max-bundle',
      ...(tcpOnly
        ? {
            iceUseTcp: true,
            iceTcpPassive: false,
            iceFilterCandidatePair: (pair) => pair.localCandidate.transport.toLowerCase() === 'tcp',
          }
        : {}),
      ...(local === undefined
        ? {}
        : {
            iceUseIpv4: false,
            iceUseIpv6: false,
            iceAdditionalHostAddresses: [local],
            iceInterfaceAddresses: local.includes(':') ? { udp6: local } : { udp4: local },
          }),
    });
    this.#channel = this.#pc.createDataChannel(AUDIO_CHANNEL.label, {
      negotiated: true,
      id: AUDIO_CHANNEL.id,
      ordered: AUDIO_CHANNEL.ordered,
      maxRetransmits: AUDIO_CHANNEL.maxRetransmits,
    });
    this.#channel.onMessage.subscribe((data) => {
      if (typeof data !== 'string') this.onVoice?.(data);
    });
    if (tcpOnly) {
      this.#channel.stateChanged.subscribe((state) => {
        if (state === 'open') this.#disableNagle();
      });
    }
  }

  /**
   * werift's ICE-TCP client sockets keep Nagle's algorithm on (it connects without `noDelay`):
   * each small voice datagram would then wait for the ACK of the one before (tens to hundreds of
   * ms against delayed ACKs). Browsers send ICE-TCP with TCP_NODELAY; so do we, once the
   * connections exist. Reaches into werift (0.25.2): ICE transports → connection → protocols →
   * their `sockets`; if that shape changes, nothing happens but latency.
   */
  #disableNagle(): void {
    type TcpProtocol = { sockets?: Map<string, { socket?: { setNoDelay?: (on: boolean) => void } }> };
    const transports = (
      this.#pc as unknown as { iceTransports?: { connection?: { protocols?: TcpProtocol[] } }[] }
    ).iceTransports;
    for (const transport of transports ?? []) {
      for (const protocol of transport.connection?.protocols ?? []) {
        for (const entry of protocol.sockets?.values() ?? []) entry.socket?.setNoDelay?.(true);
      }
    }
  }

  /** 'connecting' | 'open' | 'closing' | 'closed' of the voice channel. */
  get channelState(): string {
    return this.#channel.readyState;
  }

  get connectionState(): string {
    return this.#pc.connectionState;
  }

  /** The werift peer connection (tests and tools). */
  get peerConnection(): RTCPeerConnection {
    return this.#pc;
  }

  /** The werift data channel (tests and tools). */
  get channel(): RTCDataChannel {
    return this.#channel;
  }

  /** The offer to send as `SetupWebRtc {sdp}`. */
  async createOffer(): Promise<string> {
    await this.#pc.setLocalDescription(await this.#pc.createOffer());
    const sdp = this.#pc.localDescription!.sdp;
    if (this.#offerCandidates) return sdp;
    return sdp
      .split(/\r?\n/)
      .filter((line) => !line.startsWith('a=candidate:'))
      .join('\r\n');
  }

  /** Applies the server's answer; the channel opens once ICE, DTLS and SCTP are up. */
  async acceptAnswer(sdp: string): Promise<void> {
    await this.#pc.setRemoteDescription({ type: 'answer', sdp });
  }

  /** Resolves when the voice channel is open; rejects after `timeoutMs` or if it closes. */
  waitOpen(timeoutMs = 10_000): Promise<void> {
    if (this.#channel.readyState === 'open') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        unsubscribe();
        reject(new Error(`WebRTC voice channel not open after ${timeoutMs} ms`));
      }, timeoutMs);
      const { unSubscribe: unsubscribe } = this.#channel.stateChanged.subscribe((state) => {
        if (state === 'open') {
          clearTimeout(timer);
          unsubscribe();
          resolve();
        } else if (state === 'closed') {
          clearTimeout(timer);
          unsubscribe();
          reject(new Error('WebRTC voice channel closed before opening'));
        }
      });
    });
  }

  /** Sends one voice packet; false when the channel is not open or congested. */
  sendVoice(bytes: Uint8Array): boolean {
    if (this.#channel.readyState !== 'open' || this.#channel.bufferedAmount > this.#maxBufferedBytes) {
      return false;
    }
    this.#channel.send(
      Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    );
    return true;
  }

  async close(): Promise<void> {
    await this.#pc.close();
  }
}
