/**
 * MessagePack-RPC framing as ODIN clients speak it (ODIN-PROTOCOL.md section 2; the
 * framing follows https://github.com/msgpack-rpc/msgpack-rpc/blob/master/spec.md):
 *
 * - request      `[0, msgid, method, params]`
 * - response     `[1, msgid, error | nil, result]`
 * - notification `[2, method, params]`
 *
 * Decoding takes untrusted bytes and returns a typed frame or a {@link ProtocolError}; it never
 * throws. Encoding is minimal on purpose: the 0.16 web SDK decodes uint64 (0xcf) to BigInt and
 * then fails its own type checks, so every integer must take the smallest MessagePack form
 * (0 is the positive fixint 0x00, 2^32-1 is uint32 0xce, never 0xcf), integers are never
 * written as floats, `Uint8Array` becomes bin, and `undefined` map values are dropped.
 */
import { Encoder } from '@msgpack/msgpack';
import { CLIENT_MSGPACK_LIMITS, decodeBoundedMsgpack, type MsgpackLimits } from './boundedMsgpack.ts';
import { ProtocolError } from './errors.ts';

/** Default largest RPC frame a client may send (bytes). */
export const DEFAULT_MAX_RPC_FRAME_SIZE = 64 * 1024;

/** Largest msgid we accept: msgids are uint32 in MessagePack-RPC. */
export const MAX_MSGID = 0xffff_ffff;

export type RpcRequest = {
  readonly type: 'request';
  readonly msgid: number;
  readonly method: string;
  readonly params: unknown;
};
export type RpcResponse = {
  readonly type: 'response';
  readonly msgid: number;
  readonly error: unknown;
  readonly result: unknown;
};
export type RpcNotification = {
  readonly type: 'notification';
  readonly method: string;
  readonly params: unknown;
};
export type RpcFrame = RpcRequest | RpcResponse | RpcNotification;

// `ignoreUndefined` drops `undefined` map values (array slots become nil); no `forceFloat32`
// and no `forceIntegerToFloat`, so integers are encoded minimally by the library
// (Encoder#encodeNumber: fixint, 0xcc, 0xcd, 0xce, ...). Safe integers >= 2^32 would still
// become 0xcf: the callers keep ids below 2^32 (see assertWireSafe in tests).
const encoder = new Encoder({ ignoreUndefined: true });

/** One MessagePack value → bytes (a fresh copy the caller may keep). */
export function encodeMsgpack(value: unknown): Uint8Array {
  return encoder.encode(value);
}

/**
 * Bytes → exactly one MessagePack value, or a ProtocolError. Never throws. Bounded: declared
 * counts, nesting and lengths are checked before anything is allocated (boundedMsgpack.ts).
 */
export function decodeMsgpack(bytes: Uint8Array, limits: MsgpackLimits = CLIENT_MSGPACK_LIMITS): unknown {
  return decodeBoundedMsgpack(bytes, limits);
}

export function encodeRequest(msgid: number, method: string, params: unknown): Uint8Array {
  return encoder.encode([0, msgid, method, params ?? null]);
}

/** `error` is `null` on success; `result` is `null` when there is nothing to return. */
export function encodeResponse(msgid: number, error: unknown, result: unknown): Uint8Array {
  return encoder.encode([1, msgid, error ?? null, result ?? null]);
}

export function encodeNotification(method: string, params: unknown): Uint8Array {
  return encoder.encode([2, method, params ?? null]);
}

function isMsgid(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_MSGID;
}

/**
 * Untrusted bytes → a typed frame, or a ProtocolError saying what is wrong. Never throws.
 * `maxSize` bounds the frame before any decoding happens; `limits` bound what decoding may
 * build (the defaults are what a server accepts from a client; our own clients pass
 * SERVER_MSGPACK_LIMITS for what they read from a server).
 */
export function decodeRpcFrame(
  bytes: Uint8Array,
  maxSize = DEFAULT_MAX_RPC_FRAME_SIZE,
  limits: MsgpackLimits = CLIENT_MSGPACK_LIMITS,
): RpcFrame | ProtocolError {
  if (bytes.byteLength > maxSize) {
    return new ProtocolError(
      'frame_too_large',
      `RPC frame of ${bytes.byteLength} bytes exceeds the ${maxSize} byte limit`,
    );
  }
  const value = decodeMsgpack(bytes, limits);
  if (value instanceof ProtocolError) return value;
  if (!Array.isArray(value)) {
    return new ProtocolError('not_an_array', 'RPC frame is not a MessagePack array');
  }
  const type = value[0];
  if (type === 0) {
    if (value.length !== 4) return arity('request', 4, value.length);
    if (!isMsgid(value[1])) return badMsgid(value[1]);
    if (typeof value[2] !== 'string')
      return new ProtocolError('bad_method', 'RPC request method is not a string');
    return { type: 'request', msgid: value[1], method: value[2], params: value[3] };
  }
  if (type === 1) {
    if (value.length !== 4) return arity('response', 4, value.length);
    if (!isMsgid(value[1])) return badMsgid(value[1]);
    return { type: 'response', msgid: value[1], error: value[2], result: value[3] };
  }
  if (type === 2) {
    if (value.length !== 3) return arity('notification', 3, value.length);
    if (typeof value[1] !== 'string')
      return new ProtocolError('bad_method', 'RPC notification method is not a string');
    return { type: 'notification', method: value[1], params: value[2] };
  }
  return new ProtocolError('bad_message_type', 'RPC frame type (element 0) must be 0, 1 or 2');
}

function arity(kind: string, expected: number, actual: number): ProtocolError {
  return new ProtocolError('wrong_arity', `RPC ${kind} must have ${expected} elements, got ${actual}`);
}

function badMsgid(value: unknown): ProtocolError {
  return new ProtocolError(
    'bad_msgid',
    `RPC msgid must be an unsigned 32-bit integer, got ${describe(value)}`,
  );
}

/** A short, log-safe description of an untrusted value's type. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (value instanceof Uint8Array) return 'bin';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return Number.isInteger(value) ? `the integer ${value}` : 'a float';
  if (typeof value === 'object') return 'a map';
  return `a ${typeof value}`;
}
