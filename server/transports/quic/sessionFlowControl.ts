/**
 * WebTransport session flow control of the current drafts (draft-ietf-webtrans-http3-15/16,
 * section 5 "Flow Control"; codepoints as in webtransport-go v0.13.0 and draft-14 onwards):
 * how many streams of each kind, and how many stream bytes, the peer may open/send within one
 * session, in both directions.
 *
 * - Receive side (limits we grant): the initial values are our SETTINGS_WT_INITIAL_* (section
 *   5.5); a peer that opens a stream or sends a byte beyond them breaks the session with
 *   WT_FLOW_CONTROL_ERROR (section 5.6). We raise the limits with WT_MAX_STREAMS / WT_MAX_DATA
 *   capsules as streams end and data is consumed, before the peer runs dry (a sliding window, as
 *   QUIC does for its own MAX_STREAMS/MAX_DATA, RFC 9000 section 4).
 * - Send side (limits the peer grants): the initial values are the peer's SETTINGS_WT_INITIAL_*
 *   (absent: 0), raised by its WT_MAX_* capsules (a limit that goes down is WT_FLOW_CONTROL_ERROR,
 *   section 5.6.2); when we are held back we say so once per limit with WT_STREAMS_BLOCKED /
 *   WT_DATA_BLOCKED (sections 5.6.3/5.6.4).
 *
 * Pure bookkeeping: the session (webTransport.ts) holds the bytes and sends the capsules this
 * class asks for through `send`.
 */
import { CapsuleType } from './capsule.ts';
import { Setting } from './h3Frame.ts';
import { readVarint } from './varint.ts';

export type FlowLimits = { maxData: number; maxStreamsBidi: number; maxStreamsUni: number };

/** What we grant a peer per session (and announce as SETTINGS_WT_INITIAL_*): the window we keep open. */
export const LOCAL_FLOW_LIMITS: FlowLimits = {
  maxData: 16 * 1024 * 1024,
  maxStreamsBidi: 16,
  maxStreamsUni: 16,
};

/** A peer broke the session's flow control: close the session with WT_FLOW_CONTROL_ERROR. */
export class FlowControlViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlowControlViolation';
  }
}

/**
 * The peer's initial limits from its SETTINGS, or undefined when it announced none: a peer
 * that sends no SETTINGS_WT_INITIAL_* does not take part in session flow control, and holding
 * it to limits it never heard of would stall it (webtransport-go reads the drafts the same way).
 */
export function peerFlowLimits(settings: ReadonlyMap<number, number> | undefined): FlowLimits | undefined {
  if (settings === undefined) return undefined;
  const data = settings.get(Setting.WT_INITIAL_MAX_DATA);
  const bidi = settings.get(Setting.WT_INITIAL_MAX_STREAMS_BIDI);
  const uni = settings.get(Setting.WT_INITIAL_MAX_STREAMS_UNI);
  if (data === undefined && bidi === undefined && uni === undefined) return undefined;
  return { maxData: clamp(data ?? 0), maxStreamsBidi: clamp(bidi ?? 0), maxStreamsUni: clamp(uni ?? 0) };
}

/** Section 5.6.2: a stream count above 2^60 cannot be used (stream ids end at 2^62). */
const MAX_STREAMS_LIMIT = 2 ** 60;

/**
 * Limits beyond 2^53 - 1 are as good as unlimited here and are kept at that, so every value we
 * hold stays a safe integer (and encodable again in a BLOCKED capsule).
 */
function clamp(value: number): number {
  return Math.min(value, Number.MAX_SAFE_INTEGER);
}

/** The single varint a flow-control capsule carries (section 5.6), or a violation. */
function capsuleValue(value: Uint8Array, what: string): number {
  const read = readVarint(value, 0);
  if (read === undefined || read.next !== value.length) {
    throw new FlowControlViolation(`${what}: the value must be exactly one varint`);
  }
  return read.value;
}

type Direction = { bidi: number; uni: number };

export class SessionFlowControl {
  readonly #window: FlowLimits;
  readonly #send: (type: number, value: number) => void;
  // Receive side: what we granted, and what the peer used.
  #grantedData: number;
  #received = 0;
  readonly #grantedStreams: Direction;
  readonly #peerOpened: Direction = { bidi: 0, uni: 0 };
  readonly #peerClosed: Direction = { bidi: 0, uni: 0 };
  // Send side: what the peer granted, and what we used.
  #allowedData: number;
  #sent = 0;
  readonly #allowedStreams: Direction;
  readonly #opened: Direction = { bidi: 0, uni: 0 };
  /** The limit we last reported being blocked at (one BLOCKED capsule per limit). */
  #dataBlockedAt = -1;
  readonly #streamsBlockedAt: Direction = { bidi: -1, uni: -1 };

  constructor(local: FlowLimits, peer: FlowLimits, send: (type: number, value: number) => void) {
    this.#window = local;
    this.#send = send;
    this.#grantedData = local.maxData;
    this.#grantedStreams = { bidi: local.maxStreamsBidi, uni: local.maxStreamsUni };
    this.#allowedData = peer.maxData;
    this.#allowedStreams = { bidi: peer.maxStreamsBidi, uni: peer.maxStreamsUni };
  }

  // ---- receive side ----

  /** The peer opened a stream of this session; beyond our limit is a violation. */
  onPeerStreamOpened(bidirectional: boolean): void {
    const kind = bidirectional ? 'bidi' : 'uni';
    if (this.#peerOpened[kind] >= this.#grantedStreams[kind]) {
      throw new FlowControlViolation(
        `the peer opened ${kind} stream ${this.#peerOpened[kind] + 1} of a session allowing ${this.#grantedStreams[kind]}`,
      );
    }
    this.#peerOpened[kind]++;
  }

  /** A peer-opened stream ended: its credit comes back, announced once half the window is free. */
  onPeerStreamClosed(bidirectional: boolean): void {
    const kind = bidirectional ? 'bidi' : 'uni';
    this.#peerClosed[kind]++;
    this.#maybeGrantStreams(kind, false);
  }

  /** Stream payload bytes from the peer (after the stream header), consumed at once. */
  onDataReceived(bytes: number): void {
    this.#received += bytes;
    if (this.#received > this.#grantedData) {
      throw new FlowControlViolation(
        `the peer sent ${this.#received} bytes on a session allowing ${this.#grantedData}`,
      );
    }
    if (this.#grantedData - this.#received <= this.#window.maxData / 2) {
      this.#grantedData = this.#received + this.#window.maxData;
      this.#send(CapsuleType.WT_MAX_DATA, this.#grantedData);
    }
  }

  #maybeGrantStreams(kind: 'bidi' | 'uni', force: boolean): void {
    const window = kind === 'bidi' ? this.#window.maxStreamsBidi : this.#window.maxStreamsUni;
    const next = this.#peerClosed[kind] + window;
    const gain = next - this.#grantedStreams[kind];
    if (gain <= 0 || (!force && gain < Math.max(1, window / 2))) return;
    this.#grantedStreams[kind] = next;
    this.#send(kind === 'bidi' ? CapsuleType.WT_MAX_STREAMS_BIDI : CapsuleType.WT_MAX_STREAMS_UNI, next);
  }

  // ---- send side ----

  /** May we open another stream of this kind now? If not, tells the peer (once per limit). */
  canOpenStream(bidirectional: boolean): boolean {
    const kind = bidirectional ? 'bidi' : 'uni';
    if (this.#opened[kind] < this.#allowedStreams[kind]) return true;
    if (this.#streamsBlockedAt[kind] !== this.#allowedStreams[kind]) {
      this.#streamsBlockedAt[kind] = this.#allowedStreams[kind];
      this.#send(
        bidirectional ? CapsuleType.WT_STREAMS_BLOCKED_BIDI : CapsuleType.WT_STREAMS_BLOCKED_UNI,
        this.#allowedStreams[kind],
      );
    }
    return false;
  }

  onLocalStreamOpened(bidirectional: boolean): void {
    this.#opened[bidirectional ? 'bidi' : 'uni']++;
  }

  /** Stream bytes we may send now. */
  get sendCredit(): number {
    return this.#allowedData - this.#sent;
  }

  onDataSent(bytes: number): void {
    this.#sent += bytes;
  }

  /** We hold bytes back for lack of credit: WT_DATA_BLOCKED, once per limit. */
  onDataBlocked(): void {
    if (this.#dataBlockedAt === this.#allowedData) return;
    this.#dataBlockedAt = this.#allowedData;
    this.#send(CapsuleType.WT_DATA_BLOCKED, this.#allowedData);
  }

  // ---- capsules from the peer ----

  /**
   * A capsule of the session's CONNECT stream. Returns 'credit' when it raised a send limit
   * (the caller flushes what waits), 'handled' for another flow-control capsule, undefined for
   * a capsule that is not about flow control. Throws FlowControlViolation.
   */
  onCapsule(type: number, value: Uint8Array): 'credit' | 'handled' | undefined {
    switch (type) {
      case CapsuleType.WT_MAX_DATA: {
        const max = clamp(capsuleValue(value, 'WT_MAX_DATA'));
        if (max < this.#allowedData) {
          throw new FlowControlViolation(`WT_MAX_DATA went down from ${this.#allowedData} to ${max}`);
        }
        this.#allowedData = max;
        return 'credit';
      }
      case CapsuleType.WT_MAX_STREAMS_BIDI:
      case CapsuleType.WT_MAX_STREAMS_UNI: {
        const kind = type === CapsuleType.WT_MAX_STREAMS_BIDI ? 'bidi' : 'uni';
        const raw = capsuleValue(value, 'WT_MAX_STREAMS');
        if (raw > MAX_STREAMS_LIMIT) throw new FlowControlViolation(`WT_MAX_STREAMS of ${raw} exceeds 2^60`);
        const max = clamp(raw);
        if (max < this.#allowedStreams[kind]) {
          throw new FlowControlViolation(
            `WT_MAX_STREAMS (${kind}) went down from ${this.#allowedStreams[kind]} to ${max}`,
          );
        }
        this.#allowedStreams[kind] = max;
        return 'credit';
      }
      case CapsuleType.WT_DATA_BLOCKED:
        capsuleValue(value, 'WT_DATA_BLOCKED');
        // The peer waits for credit: grant what the window allows now rather than at half.
        if (this.#received + this.#window.maxData > this.#grantedData) {
          this.#grantedData = this.#received + this.#window.maxData;
          this.#send(CapsuleType.WT_MAX_DATA, this.#grantedData);
        }
        return 'handled';
      case CapsuleType.WT_STREAMS_BLOCKED_BIDI:
      case CapsuleType.WT_STREAMS_BLOCKED_UNI:
        capsuleValue(value, 'WT_STREAMS_BLOCKED');
        this.#maybeGrantStreams(type === CapsuleType.WT_STREAMS_BLOCKED_BIDI ? 'bidi' : 'uni', true);
        return 'handled';
      default:
        return undefined;
    }
  }
}
