/**
 * Proximity (ODIN-PROTOCOL.md section 7): peers see and hear each other only within a
 * distance of 1.0 (clients scale their coordinates). 2D and 3D positions mix: a missing z
 * is 0. `concurrent_streams` (0 = unlimited) caps how many medias one peer receives,
 * nearest sender first (ties: lower peer id, then lower media id).
 *
 * State kept here, so the voice path never computes a distance:
 * - `peer.visible`: peers in range, symmetric; changes produce PeerJoined / PeerLeft.
 * - `peer.hearing` / `media.receivers`: which medias a peer receives; changes invalidate the
 *   media's forward list.
 * A move is O(n) in the room for visibility, plus a re-selection of the receivers whose
 * choice may change (all peers in range when concurrent_streams > 0).
 */
import type { Peer } from './client.ts';
import type { Media } from './media.ts';

/** Peers within this distance see and hear each other. */
export const PROXIMITY_RANGE = 1.0;
const RANGE_SQUARED = PROXIMITY_RANGE * PROXIMITY_RANGE;

export function distanceSquared(a: Peer, b: Peer): number {
  const dx = a.x - b.x;
  const dy = a.y - b.y;
  const dz = a.z - b.z;
  return dx * dx + dy * dy + dz * dz;
}

export function inRange(a: Peer, b: Peer): boolean {
  return distanceSquared(a, b) <= RANGE_SQUARED;
}

export type VisibilityChange = { entered: Peer[]; left: Peer[] };

/**
 * Recomputes who `peer` sees among `others` (its room's peers, itself included or not) after
 * it joined or moved, updating both sides' `visible` sets. Returns the peers that came into
 * range and those that went out of range.
 */
export function updateVisibility(peer: Peer, others: Iterable<Peer>): VisibilityChange {
  const entered: Peer[] = [];
  const left: Peer[] = [];
  for (const other of others) {
    if (other === peer) continue;
    const was = peer.visible.has(other);
    const now = inRange(peer, other);
    if (now && !was) {
      peer.visible.add(other);
      other.visible.add(peer);
      entered.push(other);
    } else if (was && !now) {
      peer.visible.delete(other);
      other.visible.delete(peer);
      left.push(other);
    }
  }
  return { entered, left };
}

/** Removes `peer` from everyone's visibility and hearing (it is leaving). Returns who saw it. */
export function detach(peer: Peer): Peer[] {
  const saw = [...peer.visible];
  for (const other of saw) other.visible.delete(peer);
  peer.visible.clear();
  for (const media of peer.hearing) {
    media.receivers.delete(peer);
    media.invalidate();
  }
  peer.hearing.clear();
  for (const media of peer.medias.values()) dropMedia(media);
  return saw;
}

/** Stops delivering `media` to anyone (it stopped or its peer left). */
export function dropMedia(media: Media): void {
  for (const receiver of media.receivers) receiver.hearing.delete(media);
  media.receivers.clear();
  media.invalidate();
}

/** Recomputes which medias `receiver` gets: medias of visible peers, nearest first, capped. */
export function selectHearing(receiver: Peer, concurrentStreams: number): void {
  let chosen: Set<Media>;
  if (concurrentStreams <= 0) {
    chosen = new Set();
    for (const sender of receiver.visible) for (const media of sender.medias.values()) chosen.add(media);
  } else {
    const candidates: { media: Media; d: number }[] = [];
    for (const sender of receiver.visible) {
      if (sender.medias.size === 0) continue;
      const d = distanceSquared(receiver, sender);
      for (const media of sender.medias.values()) candidates.push({ media, d });
    }
    if (candidates.length > concurrentStreams) {
      candidates.sort((a, b) => a.d - b.d || a.media.peer.id - b.media.peer.id || a.media.id - b.media.id);
      candidates.length = concurrentStreams;
    }
    chosen = new Set(candidates.map((c) => c.media));
  }
  for (const media of receiver.hearing) {
    if (!chosen.has(media)) {
      receiver.hearing.delete(media);
      media.receivers.delete(receiver);
      media.invalidate();
    }
  }
  for (const media of chosen) {
    if (!receiver.hearing.has(media)) {
      receiver.hearing.add(media);
      media.receivers.add(receiver);
      media.invalidate();
    }
  }
}
