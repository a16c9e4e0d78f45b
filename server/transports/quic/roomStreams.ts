/**
 * Which room stream a WebTransport session may bind (docs/protocol.md, "Streams and framing").
 * A room stream names its peer by the `stream_id` JoinRoom returned; on the web transport that
 * id is the only credential of `/room?<stream_id>`, but a QUIC room stream arrives inside the
 * session that joined, so it binds only a peer of that session's own client: a stream id seen
 * or guessed from another session attaches nothing. A session that opens room streams which
 * attach nothing is counted, and closed after MAX_FAILED_ROOM_STREAMS of them.
 */
import type { Client, Peer } from '../../core/client.ts';

/**
 * Room streams a session may open that attach to nothing before it is closed as guessing.
 * More than one: a legitimate client can lose a race (its peer was kicked, or its stream
 * timed out, between JoinRoom's answer and the stream).
 */
export const MAX_FAILED_ROOM_STREAMS = 3;

/** Counters shared by a listener's sessions (read by metrics and tests; updated in place). */
export type RoomStreamStats = {
  /** Room streams reset because they attach to no waiting peer of their own session. */
  roomStreamsRefused: number;
  /** Sessions closed after MAX_FAILED_ROOM_STREAMS refused room streams. */
  sessionsClosedForGuessing: number;
};

/** A peer of `client` still waiting for its room stream (joined, not attached, not left). */
function waiting(peer: Peer): boolean {
  return !peer.left && peer.stream === undefined;
}

/** Whether any peer of `client` waits for its room stream. */
export function hasWaitingPeer(client: Client): boolean {
  for (const peer of client.peers) if (waiting(peer)) return true;
  return false;
}

/** The peer of `client` waiting for the room stream `streamId`, if there is one. */
export function waitingPeerWith(client: Client, streamId: number | undefined): Peer | undefined {
  if (streamId === undefined) return undefined;
  for (const peer of client.peers) if (peer.streamId === streamId && waiting(peer)) return peer;
  return undefined;
}
