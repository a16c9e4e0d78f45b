/**
 * What a QUIC server does with a datagram for no connection it knows, without holding any
 * state for it: drop it, answer it statelessly (Version Negotiation, Retry, stateless reset),
 * or let it start a connection. Everything here runs before a client has proved anything, so
 * no answer is larger than what provoked it, except the Retry and Version Negotiation that
 * answer a full-size (1200-byte) Initial.
 *
 *   datagram under 1200 bytes, long header   dropped (RFC 9000 sections 14.1, 5.2.2)
 *   short header                             stateless reset (section 10.3; statelessReset.ts)
 *   long header, not an Initial              dropped
 *   Initial of an unsupported version        Version Negotiation (section 6)
 *   Initial without a token (Retry on)       Retry (section 8.1.2; addressToken.ts)
 *   Initial with a bad or expired token      dropped
 *   Initial with a valid token, or Retry off a new connection
 */
import { randomBytes } from 'node:crypto';
import type { RemoteInfo } from 'node:dgram';
import { AddressTokens } from './addressToken.ts';
import { CONNECTION_ID_LENGTH, MIN_CLIENT_INITIAL_LEN, PacketType, type QuicheHeader } from './quiche.ts';
import { retryPacket, versionIsSupported, versionNegotiationPacket } from './quicPackets.ts';
import { deriveEndpointKey, StatelessResets } from './statelessReset.ts';

/** Counters of the responder (part of the endpoint's stats; updated in place). */
export type StatelessStats = {
  /** Packets for no known connection that cannot start one. */
  unknownConnection: number;
  /**
   * Long-header packets for no known connection in UDP datagrams under 1200 bytes: dropped
   * without any answer (RFC 9000 sections 14.1 and 5.2.2).
   */
  shortInitial: number;
  versionNegotiations: number;
  retriesSent: number;
  /** Initial packets with a Retry token that did not validate. */
  invalidTokens: number;
  /** Stateless resets sent for packets of unknown connections (RFC 9000 section 10.3). */
  statelessResetsSent: number;
  /** Resets not sent because of the rate limit. */
  statelessResetsLimited: number;
};

export type StatelessResponderParams = {
  /** Answer a first Initial with a Retry and accept only validated addresses. */
  retry: boolean;
  /** Secret bytes that survive restarts; the Retry token and reset keys derive from them. */
  keyMaterial: Uint8Array | undefined;
  /** Stateless resets per second at most. */
  statelessResetRate: number;
  stats: StatelessStats;
  /** Sends one UDP datagram from the endpoint's socket. */
  send: (bytes: Uint8Array, port: number, address: string) => void;
  /** The endpoint's own address: never answered (a spoofed source must not make us talk to ourselves). */
  local: () => { host: string; port: number };
};

/** An Initial that may start a connection: our connection id and, after a Retry, the client's original one. */
export type Admission = { scid: Uint8Array; odcid: Uint8Array | null };

/** RFC 9000 section 17.2: a QUIC v1 connection id is 0 to 20 bytes. */
const MAX_QUIC_V1_CID_LEN = 20;

export class StatelessResponder {
  readonly #params: StatelessResponderParams;
  readonly #stats: StatelessStats;
  readonly #addressTokens: AddressTokens;
  readonly #resets: StatelessResets;

  constructor(params: StatelessResponderParams) {
    this.#params = params;
    this.#stats = params.stats;
    this.#addressTokens = new AddressTokens(deriveEndpointKey(params.keyMaterial, 'retry token'));
    this.#resets = new StatelessResets({
      key: deriveEndpointKey(params.keyMaterial, 'stateless reset'),
      rate: params.statelessResetRate,
    });
  }

  /** The `stateless_reset_token` transport parameter of our connection id `scid` (the addon's `accept` takes it). */
  resetTokenBytes(scid: Uint8Array): Uint8Array {
    return this.#resets.token(scid);
  }

  /** Handles a datagram for no known connection; an Admission when it may start one. */
  handle(header: QuicheHeader, message: Uint8Array, remote: RemoteInfo): Admission | undefined {
    if (header.ty === PacketType.Short) {
      this.#sendStatelessReset(message, header.dcid, remote);
      return undefined;
    }
    // Size before anything else, so no answer of ours (Version Negotiation, Retry) ever goes to
    // a datagram under 1200 bytes: RFC 9000 section 14.1 (a server MUST discard an Initial in a
    // smaller datagram) and section 5.2.2 (a packet of an unsupported version that is too small
    // to be an Initial is dropped, not answered: answering would amplify spoofed traffic).
    if (message.length < MIN_CLIENT_INITIAL_LEN) {
      this.#stats.shortInitial++;
      return undefined;
    }
    if (header.ty !== PacketType.Initial) {
      this.#stats.unknownConnection++;
      return undefined;
    }
    // QUIC v1 connection ids are at most 20 bytes; a long header of another version may carry up
    // to 255 (RFC 8999), which quiche cannot echo in a Version Negotiation or Retry (the addon
    // refuses it). Such a datagram is dropped and counted, never answered, never a crash
    // (found by the abuse battery's udpGarbage: an unhandled addon error killed the process).
    if (header.dcid.length > MAX_QUIC_V1_CID_LEN || header.scid.length > MAX_QUIC_V1_CID_LEN) {
      this.#stats.unknownConnection++;
      return undefined;
    }
    if (!versionIsSupported(header.version)) {
      this.#params.send(versionNegotiationPacket(header.scid, header.dcid), remote.port, remote.address);
      this.#stats.versionNegotiations++;
      return undefined;
    }
    if (!this.#params.retry) return { scid: randomBytes(CONNECTION_ID_LENGTH), odcid: null };
    const token = header.token;
    if (token === undefined || token === null || token.length === 0) {
      this.#sendRetry(header, remote);
      return undefined;
    }
    const odcid = this.#addressTokens.validate(token, remote);
    if (odcid === undefined || header.dcid.length !== CONNECTION_ID_LENGTH) {
      this.#stats.invalidTokens++;
      return undefined;
    }
    // The client now uses the connection id our Retry chose: it becomes the connection's.
    return { scid: header.dcid, odcid };
  }

  /** Stateless Retry (RFC 9000 section 8.1.2); the token binds the client address and a time. */
  #sendRetry(header: QuicheHeader, remote: RemoteInfo): void {
    const newScid = randomBytes(CONNECTION_ID_LENGTH);
    const token = this.#addressTokens.mint(header.dcid, remote);
    this.#params.send(retryPacket(header, newScid, token), remote.port, remote.address);
    this.#stats.retriesSent++;
  }

  /** A short-header packet for a connection we do not know (RFC 9000 section 10.3). */
  #sendStatelessReset(message: Uint8Array, dcid: Uint8Array, remote: RemoteInfo): void {
    this.#stats.unknownConnection++;
    const local = this.#params.local();
    if (remote.port === local.port && remote.address === local.host) return;
    const reset = this.#resets.answer(message, dcid);
    if (reset === 'rate-limited') this.#stats.statelessResetsLimited++;
    if (!(reset instanceof Uint8Array)) return;
    this.#params.send(reset, remote.port, remote.address);
    this.#stats.statelessResetsSent++;
  }
}
