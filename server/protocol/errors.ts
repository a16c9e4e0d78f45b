/**
 * Errors of the wire protocol: a frame or a parameter set a client sent that we refuse.
 *
 * | code                | meaning                                                              |
 * |---------------------|----------------------------------------------------------------------|
 * | `frame_too_large`   | the frame is longer than the endpoint's maximum frame size           |
 * | `malformed_msgpack` | the bytes are not exactly one MessagePack value                      |
 * | `not_an_array`      | the value is not a MessagePack-RPC array                             |
 * | `bad_message_type`  | element 0 is not 0 (request), 1 (response) or 2 (notification)       |
 * | `wrong_arity`       | the array has the wrong number of elements for its message type      |
 * | `bad_msgid`         | the msgid is not an unsigned 32-bit integer                          |
 * | `bad_method`        | the method name is not a string                                      |
 * | `unknown_method`    | the method is not one the server knows                               |
 * | `bad_params`        | the params do not match the method's schema (the message names the field path) |
 */
export type ProtocolErrorCode =
  | 'frame_too_large'
  | 'malformed_msgpack'
  | 'not_an_array'
  | 'bad_message_type'
  | 'wrong_arity'
  | 'bad_msgid'
  | 'bad_method'
  | 'unknown_method'
  | 'bad_params';

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;

  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
  }
}
