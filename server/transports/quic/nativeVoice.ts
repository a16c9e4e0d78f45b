/**
 * Keeps the native engine's forwarding table (native/quic/src/forward.rs) equal to the SFU
 * core's forward lists, so a native peer's voice datagram reaches the other native peers
 * without entering JavaScript (docs/native-quic.md). The core stays the one place where
 * routing is decided: every change of a media's receivers (join, leave, proximity,
 * concurrent_streams) or pauses goes through `Media.invalidate`, which the core reports as
 * `routingchanged`; this module answers each report by pushing that media's current list into
 * the addon, synchronously, before anything else runs. So the addon never forwards by a list
 * older than the current event-loop turn.
 *
 * An entry names the native receivers (sessions registered here) and whether other receivers
 * exist (web peers): then the addon also hands the packet to JavaScript, which sends it to
 * those only. A media without an entry (web sender, several medias in one packet) is routed
 * by JavaScript (the core's VoiceRouter).
 */
import type { Client, Peer } from '../../core/client.ts';
import type { Media } from '../../core/media.ts';
import type { Sfu } from '../../core/sfu.ts';
import type { NativeQuicEndpoint } from './nativeEndpoint.ts';
import type { QuicConnection } from './quicConnection.ts';
import { writeVarint } from './varint.ts';

export class NativeVoiceTable {
  readonly #endpoint: NativeQuicEndpoint;
  readonly #sfu: Sfu;
  readonly #sessions = new Map<Client, QuicConnection>();
  readonly #onChange = (media: Media) => this.#push(media);
  readonly #onStopped = (media: Media) => {
    const sender = this.#sessions.get((media.peer as Peer).client);
    if (sender !== undefined) this.#endpoint.removeRoute(sender, media.id);
  };

  constructor(endpoint: NativeQuicEndpoint, sfu: Sfu) {
    this.#endpoint = endpoint;
    this.#sfu = sfu;
    sfu.observer.on('routingchanged', this.#onChange);
    sfu.observer.on('mediastopped', this.#onStopped);
  }

  stop(): void {
    this.#sfu.observer.off('routingchanged', this.#onChange);
    this.#sfu.observer.off('mediastopped', this.#onStopped);
  }

  /**
   * The ODIN client of a WebTransport session on `quic` (before it joins any room): its voice
   * datagrams carry the session's quarter stream id (RFC 9297 section 2.1).
   */
  register(client: Client, quic: QuicConnection, sessionId: number): void {
    const prefix = new Uint8Array(8);
    const length = writeVarint(prefix, 0, sessionId / 4);
    this.#endpoint.setVoiceSession(quic, prefix.subarray(0, length));
    this.#sessions.set(client, quic);
  }

  forget(client: Client | undefined): void {
    if (client !== undefined) this.#sessions.delete(client);
  }

  #push(media: Media): void {
    const sender = this.#sessions.get((media.peer as Peer).client);
    if (sender === undefined) return;
    const receivers: QuicConnection[] = [];
    let toJs = false;
    for (const destination of media.forwardList()) {
      const receiver = this.#sessions.get(destination as Client);
      if (receiver === undefined) toJs = true;
      else receivers.push(receiver);
    }
    this.#endpoint.setRoute(sender, media.id, receivers, toJs, media.rate);
  }
}
