/**
 * Parameter schemas of every method a client calls (ODIN-PROTOCOL.md sections 2 and 3).
 *
 * The validators are hand-written rather than JSON-Schema (ajv/TypeBox) because the values
 * are MessagePack-typed: `user_data` and `message` must be bin (`Uint8Array`), positions may
 * be int, float32 or float64, ids must be unsigned integers of a given width. JSON-Schema
 * validators do not model bin at all. Each validator returns the typed params or a
 * ProtocolError naming the method and the field path, e.g.
 * `SendMessage.target_peer_ids[2]: expected an unsigned integer`. Unknown keys are ignored
 * (newer clients may send more).
 */
import { ProtocolError } from './errors.ts';
import { describe, encodeMsgpack } from './msgpackRpc.ts';

/** Largest `user_data` (peer or room) in bytes. */
export const MAX_USER_DATA_SIZE = 16 * 1024;
/** Largest `SendMessage.message` in bytes. */
export const MAX_MESSAGE_SIZE = 32 * 1024;
/** Largest SDP (offer/answer) in characters. */
export const MAX_SDP_SIZE = 32 * 1024;
/** Largest token in characters. */
export const MAX_TOKEN_SIZE = 8 * 1024;
/** Longest room id in characters. */
export const MAX_ROOM_ID_LENGTH = 1024;
/** Most entries in `SendMessage.target_peer_ids`. */
export const MAX_TARGET_PEERS = 1024;
/** Most keys in `StartMedia.properties`. */
export const MAX_MEDIA_PROPERTIES = 64;
/**
 * Deepest nesting of `StartMedia.properties`, the properties map itself being level 1. Every
 * later `Joined` and `PeerJoined` carries them 10 levels down (RoomUpdated → updates → room →
 * peers → medias → properties), so this keeps those notifications far inside the encoder's
 * depth limit (100) and our clients' decoding limit (64).
 */
export const MAX_PROPERTIES_DEPTH = 8;
/** Largest `StartMedia.properties`, MessagePack-encoded: they are resent to every joining peer. */
export const MAX_PROPERTIES_SIZE = 8 * 1024;
/** Deepest and largest `WebRtcUpdate.media_map` (passed through, never interpreted). */
export const MAX_MEDIA_MAP_DEPTH = 8;
export const MAX_MEDIA_MAP_SIZE = 16 * 1024;
/** Longest trickle candidate line in characters. */
export const MAX_CANDIDATE_SIZE = 1024;

/** `[x, y]` or `[x, y, z]`, finite numbers (clients scale coordinates to a range of 1.0). */
export type Position = readonly [number, number] | readonly [number, number, number];

export type MethodParams = {
  // generation A, main connection
  Authenticate: { token: string };
  SetupWebRtc: { sdp: string };
  // generation A (no token) and B (token) share JoinRoom
  JoinRoom: { token?: string; room_id: string; user_data: Uint8Array; position: Position };
  // generation B, main connection
  WebRtcUpdate: WebRtcUpdate;
  RequestReconnectToken: { peer_id?: number };
  Ping: Record<string, never>;
  // room stream
  UpdatePeer: { user_data: Uint8Array };
  UpdateRoom: { user_data: Uint8Array };
  StartMedia: { media_id: number; properties: Record<string, unknown> };
  StopMedia: { media_id: number };
  PauseMedia: { media_id: number };
  ResumeMedia: { media_id: number };
  SetPeerPosition: { position: Position };
  SendMessage: { message: Uint8Array; target_peer_ids?: number[] };
};

export type MethodName = keyof MethodParams;

export type WebRtcUpdate =
  | { kind: 'Sdp'; type: 'Offer' | 'Answer'; sdp: string; media_map: unknown }
  | {
      kind: 'Trickle';
      candidate: string;
      spd_mid?: string;
      spd_mline_index?: number;
      username_fragment?: string;
    }
  | { kind: 'TrickleFinished' };

/** Methods sent on a peer's room stream. */
export const roomMethods = [
  'UpdatePeer',
  'UpdateRoom',
  'StartMedia',
  'StopMedia',
  'PauseMedia',
  'ResumeMedia',
  'SetPeerPosition',
  'SendMessage',
] as const satisfies readonly MethodName[];
export type RoomMethodName = (typeof roomMethods)[number];

/** Methods sent on the main connection. */
export const mainMethods = [
  'Authenticate',
  'SetupWebRtc',
  'JoinRoom',
  'WebRtcUpdate',
  'RequestReconnectToken',
  'Ping',
] as const satisfies readonly MethodName[];
export type MainMethodName = (typeof mainMethods)[number];

export type Validated<T> = { ok: true; params: T } | { ok: false; error: ProtocolError };

// ---- field readers: throw FieldError internally, turned into a ProtocolError at the top ----

class FieldError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.path = path;
  }
}

type Fields = Record<string, unknown>;

function map(value: unknown, path: string): Fields {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new FieldError(path, `expected a map, got ${describe(value)}`);
  }
  return value as Fields;
}

function string(value: unknown, path: string, maxLength: number): string {
  if (typeof value !== 'string') throw new FieldError(path, `expected a string, got ${describe(value)}`);
  if (value.length > maxLength) throw new FieldError(path, `longer than ${maxLength} characters`);
  return value;
}

function bin(value: unknown, path: string, maxSize: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new FieldError(path, `expected bin, got ${describe(value)}`);
  if (value.byteLength > maxSize) throw new FieldError(path, `larger than ${maxSize} bytes`);
  return value;
}

function uint(value: unknown, path: string, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new FieldError(path, 'expected an unsigned integer');
  }
  if (value > max) throw new FieldError(path, `expected an unsigned integer <= ${max}`);
  return value;
}

function position(value: unknown, path: string): Position {
  if (!Array.isArray(value) || (value.length !== 2 && value.length !== 3)) {
    throw new FieldError(path, 'expected an array of 2 or 3 numbers');
  }
  for (let i = 0; i < value.length; i++) {
    const n: unknown = value[i];
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      throw new FieldError(`${path}[${i}]`, 'expected a finite number');
    }
  }
  return value.length === 2
    ? [value[0] as number, value[1] as number]
    : [value[0] as number, value[1] as number, value[2] as number];
}

/**
 * A free-form client value that the server stores and sends on (`properties`, `media_map`):
 * only plain MessagePack types (nil, bool, number, str, bin, array, map), at most `maxDepth`
 * levels of arrays and maps, at most `maxSize` bytes once encoded. Checked here, at the
 * boundary, so that nothing accepted can later fail to encode for other peers.
 */
function plainValue(value: unknown, path: string, maxDepth: number, maxSize: number): unknown {
  checkPlain(value, path, maxDepth, 1);
  const size = encodeMsgpack(value).byteLength;
  if (size > maxSize) throw new FieldError(path, `larger than ${maxSize} bytes encoded (${size})`);
  return value;
}

function checkPlain(value: unknown, path: string, maxDepth: number, depth: number): void {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return;
  if (typeof value === 'number' || value instanceof Uint8Array) return;
  if (typeof value !== 'object' || value === undefined) {
    throw new FieldError(path, `expected a MessagePack value, got ${describe(value)}`);
  }
  if (depth > maxDepth) throw new FieldError(path, `nested deeper than ${maxDepth} levels`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) checkPlain(value[i], `${path}[${i}]`, maxDepth, depth + 1);
    return;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) {
    throw new FieldError(path, 'expected a MessagePack value, got an extension type');
  }
  for (const [key, item] of Object.entries(value)) checkPlain(item, `${path}.${key}`, maxDepth, depth + 1);
}

function optional<T>(value: unknown, read: (v: unknown) => T): T | undefined {
  return value === undefined || value === null ? undefined : read(value);
}

const U16 = 0xffff;
const U32 = 0xffff_ffff;

// ---- the schemas ----

const validators: { [M in MethodName]: (params: unknown) => MethodParams[M] } = {
  Authenticate: (p) => ({ token: string(map(p, '').token, 'token', MAX_TOKEN_SIZE) }),
  SetupWebRtc: (p) => ({ sdp: string(map(p, '').sdp, 'sdp', MAX_SDP_SIZE) }),
  JoinRoom: (p) => {
    const f = map(p, '');
    const token = optional(f.token, (v) => string(v, 'token', MAX_TOKEN_SIZE));
    const params: MethodParams['JoinRoom'] = {
      room_id: string(f.room_id, 'room_id', MAX_ROOM_ID_LENGTH),
      user_data: bin(f.user_data, 'user_data', MAX_USER_DATA_SIZE),
      position: position(f.position, 'position'),
    };
    if (token !== undefined) params.token = token;
    return params;
  },
  WebRtcUpdate: (p) => {
    const f = map(p, '');
    switch (f.kind) {
      case 'Sdp': {
        if (f.type !== 'Offer' && f.type !== 'Answer')
          throw new FieldError('type', 'expected "Offer" or "Answer"');
        const mediaMap =
          f.media_map === undefined
            ? undefined
            : plainValue(f.media_map, 'media_map', MAX_MEDIA_MAP_DEPTH, MAX_MEDIA_MAP_SIZE);
        return { kind: 'Sdp', type: f.type, sdp: string(f.sdp, 'sdp', MAX_SDP_SIZE), media_map: mediaMap };
      }
      case 'Trickle': {
        const update: WebRtcUpdate = {
          kind: 'Trickle',
          candidate: string(f.candidate, 'candidate', MAX_CANDIDATE_SIZE),
        };
        const mid = optional(f.spd_mid, (v) => string(v, 'spd_mid', 64));
        const index = optional(f.spd_mline_index, (v) => uint(v, 'spd_mline_index', U16));
        const ufrag = optional(f.username_fragment, (v) => string(v, 'username_fragment', 256));
        if (mid !== undefined) update.spd_mid = mid;
        if (index !== undefined) update.spd_mline_index = index;
        if (ufrag !== undefined) update.username_fragment = ufrag;
        return update;
      }
      case 'TrickleFinished':
        return { kind: 'TrickleFinished' };
      default:
        throw new FieldError('kind', 'expected "Sdp", "Trickle" or "TrickleFinished"');
    }
  },
  RequestReconnectToken: (p) => {
    const peerId =
      p === null || p === undefined
        ? undefined
        : optional(map(p, '').peer_id, (v) => uint(v, 'peer_id', U32));
    return peerId === undefined ? {} : { peer_id: peerId };
  },
  Ping: (p) => {
    if (p !== null && p !== undefined) map(p, '');
    return {};
  },
  UpdatePeer: (p) => ({ user_data: bin(map(p, '').user_data, 'user_data', MAX_USER_DATA_SIZE) }),
  UpdateRoom: (p) => ({ user_data: bin(map(p, '').user_data, 'user_data', MAX_USER_DATA_SIZE) }),
  StartMedia: (p) => {
    const f = map(p, '');
    const mediaId = uint(f.media_id, 'media_id', U16);
    const properties =
      f.properties === undefined || f.properties === null ? {} : map(f.properties, 'properties');
    if (Object.keys(properties).length > MAX_MEDIA_PROPERTIES) {
      throw new FieldError('properties', `more than ${MAX_MEDIA_PROPERTIES} keys`);
    }
    plainValue(properties, 'properties', MAX_PROPERTIES_DEPTH, MAX_PROPERTIES_SIZE);
    return { media_id: mediaId, properties };
  },
  StopMedia: (p) => ({ media_id: uint(map(p, '').media_id, 'media_id', U16) }),
  PauseMedia: (p) => ({ media_id: uint(map(p, '').media_id, 'media_id', U16) }),
  ResumeMedia: (p) => ({ media_id: uint(map(p, '').media_id, 'media_id', U16) }),
  SetPeerPosition: (p) => ({ position: position(map(p, '').position, 'position') }),
  SendMessage: (p) => {
    const f = map(p, '');
    const message = bin(f.message, 'message', MAX_MESSAGE_SIZE);
    const targets = optional(f.target_peer_ids, (v) => {
      if (!Array.isArray(v)) throw new FieldError('target_peer_ids', `expected an array, got ${describe(v)}`);
      if (v.length > MAX_TARGET_PEERS)
        throw new FieldError('target_peer_ids', `more than ${MAX_TARGET_PEERS} entries`);
      return v.map((id: unknown, i) => uint(id, `target_peer_ids[${i}]`, U32));
    });
    return targets === undefined ? { message } : { message, target_peer_ids: targets };
  },
};

export function isMethodName(name: string): name is MethodName {
  return Object.hasOwn(validators, name);
}

export function isRoomMethod(name: MethodName): name is RoomMethodName {
  return (roomMethods as readonly string[]).includes(name);
}

/** Untrusted params of `method` → typed params, or a ProtocolError naming `Method.field.path`. */
export function validateParams<M extends MethodName>(method: M, params: unknown): Validated<MethodParams[M]> {
  try {
    return { ok: true, params: validators[method](params) };
  } catch (error) {
    if (error instanceof FieldError) {
      const where = error.path === '' ? method : `${method}.${error.path}`;
      return { ok: false, error: new ProtocolError('bad_params', `${where}: ${error.message}`) };
    }
    return { ok: false, error: new ProtocolError('bad_params', `${method}: invalid params`) };
  }
}
