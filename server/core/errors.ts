/**
 * Why the core refused an RPC call. The client sees only the message (a plain string in the
 * response's error slot: the ODIN SDKs show a string error as-is, so it is the safest format);
 * the code feeds counters and logs.
 *
 * | code                  | refused because                                                 |
 * |-----------------------|-----------------------------------------------------------------|
 * | `bad_request`         | unknown method, method on the wrong connection, or bad params   |
 * | `not_authenticated`   | a call that needs `Authenticate` (or a token) came before it     |
 * | `auth_failed`         | the token was rejected                                          |
 * | `room_not_allowed`    | the room is not among the token's room ids (`rid`)              |
 * | `already_joined`      | the client already has a peer in that room                      |
 * | `server_full`         | `[limit] max_clients` reached                                   |
 * | `too_many_rooms`      | `[limit] max_rooms` reached                                     |
 * | `too_many_peers`      | `[limit] max_peers` reached                                     |
 * | `media_ids_exhausted` | the room has no free media ids left for a new peer's pool        |
 * | `banned`              | the user or the room is banned until a later time                |
 * | `draining`            | the server is shutting down and accepts no joins                 |
 * | `bad_media`           | media id not in the peer's pool, already started, or unknown     |
 * | `not_supported`       | the transport or the server setup does not offer this call        |
 * | `internal`            | a bug: logged at error level                                     |
 */
export type RpcErrorCode =
  | 'bad_request'
  | 'not_authenticated'
  | 'auth_failed'
  | 'room_not_allowed'
  | 'already_joined'
  | 'server_full'
  | 'too_many_rooms'
  | 'too_many_peers'
  | 'media_ids_exhausted'
  | 'banned'
  | 'draining'
  | 'bad_media'
  | 'not_supported'
  | 'internal';

export class RpcError extends Error {
  readonly code: RpcErrorCode;

  constructor(code: RpcErrorCode, message: string) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
  }
}
