/**
 * The param schemas of every method (server/protocol/methods.ts), reached directly: byte 0
 * picks the method, the rest is the MessagePack params (bounded decoder). Findings: an
 * exception, or accepted params that cannot be encoded inside the deepest notification that
 * carries client values (a Joined: RoomUpdated → updates → room → peers → medias → properties).
 */

import { ProtocolError } from '../../server/protocol/errors.ts';
import { mainMethods, roomMethods, validateParams } from '../../server/protocol/methods.ts';
import { decodeMsgpack, encodeMsgpack } from '../../server/protocol/msgpackRpc.ts';
import { Cursor } from './cursor.ts';

const methods = [...mainMethods, ...roomMethods];

export function fuzz(data: Buffer): void {
  const input = new Cursor(data);
  const method = methods[input.byte() % methods.length]!;
  const params = decodeMsgpack(input.rest());
  if (params instanceof ProtocolError) return;
  const validated = validateParams(method, params);
  if (!validated.ok) return;
  const value = validated.params as Record<string, unknown>;
  // Client values end up this deep in a Joined; it must encode (the encoder's limit is 100).
  const media = { id: 1, properties: value.properties ?? value, paused: false };
  const peer = { id: 1, user_id: 'u', user_data: value.user_data ?? new Uint8Array(), medias: [media] };
  encodeMsgpack([2, 'RoomUpdated', { updates: [{ kind: 'Joined', room: { peers: [peer] } }] }]);
}
