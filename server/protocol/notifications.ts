/**
 * Server → client notifications with the exact shapes of ODIN-PROTOCOL.md section 2.
 * Each builder returns the encoded MessagePack-RPC notification `[2, method, params]`.
 * `user_data` and `message` are bin; ids are plain numbers below 2^32 (never uint64).
 */
import { encodeNotification } from './msgpackRpc.ts';

export type MediaWire = { id: number; properties: Record<string, unknown>; paused: boolean };
export type PeerWire = { id: number; user_id: string; user_data: Uint8Array; medias: MediaWire[] };
/** `peers` are the peers other than the receiver that it can see. */
export type RoomWire = { id: string; customer: string; user_data: Uint8Array; peers: PeerWire[] };

/** Why a peer left a room, as the SDK names it. */
export type LeftReason = 'RoomClosing' | 'ServerClosing' | 'PeerKicked';

export type RoomUpdate =
  | { kind: 'Joined'; room: RoomWire; media_ids: number[]; own_peer_id: number }
  | { kind: 'Left'; reason: LeftReason }
  | { kind: 'UserDataChanged'; user_data: Uint8Array }
  | { kind: 'PeerJoined'; peer: PeerWire }
  | { kind: 'PeerLeft'; peer_id: number };

export type PeerUpdate =
  | { kind: 'MediaStarted'; peer_id: number; media: MediaWire }
  | { kind: 'MediaStopped'; peer_id: number; media_id: number }
  | { kind: 'UserDataChanged'; peer_id: number; user_data: Uint8Array };

export type MessageReceived = { sender_peer_id: number; message: Uint8Array };
export type RoomStatusChanged = { status: string; message?: string };

/**
 * `RoomUpdated {updates: [...]}`. The protocol (and the 0.16 SDK, which walks `updates` in order)
 * allows several per notification; ODIN Grid sends one at a time, so `[internal] bundle_events`
 * is accepted and has no effect (docs/configuration.md).
 */
export function roomUpdated(...updates: RoomUpdate[]): Uint8Array {
  return encodeNotification('RoomUpdated', { updates });
}

export function joined(room: RoomWire, mediaIds: number[], ownPeerId: number): Uint8Array {
  return roomUpdated({ kind: 'Joined', room, media_ids: mediaIds, own_peer_id: ownPeerId });
}

export function left(reason: LeftReason): Uint8Array {
  return roomUpdated({ kind: 'Left', reason });
}

export function roomUserDataChanged(userData: Uint8Array): Uint8Array {
  return roomUpdated({ kind: 'UserDataChanged', user_data: userData });
}

export function peerJoined(peer: PeerWire): Uint8Array {
  return roomUpdated({ kind: 'PeerJoined', peer });
}

export function peerLeft(peerId: number): Uint8Array {
  return roomUpdated({ kind: 'PeerLeft', peer_id: peerId });
}

export function peerUpdated(update: PeerUpdate): Uint8Array {
  return encodeNotification('PeerUpdated', update);
}

export function mediaStarted(peerId: number, media: MediaWire): Uint8Array {
  return peerUpdated({ kind: 'MediaStarted', peer_id: peerId, media });
}

export function mediaStopped(peerId: number, mediaId: number): Uint8Array {
  return peerUpdated({ kind: 'MediaStopped', peer_id: peerId, media_id: mediaId });
}

export function peerUserDataChanged(peerId: number, userData: Uint8Array): Uint8Array {
  return peerUpdated({ kind: 'UserDataChanged', peer_id: peerId, user_data: userData });
}

export function messageReceived(senderPeerId: number, message: Uint8Array): Uint8Array {
  const params: MessageReceived = { sender_peer_id: senderPeerId, message };
  return encodeNotification('MessageReceived', params);
}

/** Generation B only. */
export function roomStatusChanged(status: string, message?: string): Uint8Array {
  const params: RoomStatusChanged = message === undefined ? { status } : { status, message };
  return encodeNotification('RoomStatusChanged', params);
}
