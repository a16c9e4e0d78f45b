/**
 * Executes the tasks a `sfu.Report` answer carries, on the core (ODIN-PROTOCOL.md section 5):
 *
 * - `RoomClose`: every peer gets `Left {RoomClosing}`; joins to the room are refused until
 *   `ban_time` ends (the gateway sends one on a room collision so the room moves elsewhere).
 * - `RoomUpdate`: the room's user data is replaced; every peer gets `UserDataChanged`.
 * - `RoomBanClient`: every peer of `user_id` in the room gets `Left {PeerKicked}`; the user is
 *   refused from that room until `ban_time` ends.
 * - `RoomSendMessage`: `MessageReceived` from sender peer id 0 (the server) to every peer of
 *   `user_id` in the room (every peer when `user_id` is empty).
 */

import type { SupervisorTask } from '../../common/gateway/protocol.ts';
import type { Sfu } from '../core/sfu.ts';

/** What the tasks need of the core (server/core/sfu.ts fits). */
export type TaskTarget = Pick<Sfu, 'closeRoom' | 'updateRoomUserData' | 'banUser' | 'sendRoomMessage'>;

/** Runs one task; returns a short description of what happened, for the log. */
export function executeTask(sfu: TaskTarget, task: SupervisorTask): string {
  const [namespace, roomId] = task.id;
  const room = `room ${JSON.stringify(roomId)} (namespace ${JSON.stringify(namespace)})`;
  switch (task.task) {
    case 'RoomClose': {
      const open = sfu.closeRoom(namespace, roomId, 'RoomClosing', task.banMs);
      return `${open ? 'closed' : 'no such'} ${room}; joins refused for ${task.banMs} ms`;
    }
    case 'RoomUpdate': {
      const open = sfu.updateRoomUserData(namespace, roomId, task.userData);
      return open ? `updated the user data of ${room}` : `no such ${room} to update`;
    }
    case 'RoomBanClient':
      sfu.banUser(namespace, roomId, task.userId, task.banMs);
      return `banned user ${JSON.stringify(task.userId)} from ${room} for ${task.banMs} ms`;
    case 'RoomSendMessage': {
      const reached = sfu.sendRoomMessage(namespace, roomId, task.userId, task.message);
      return `sent a message to ${reached} peer(s) of user ${JSON.stringify(task.userId)} in ${room}`;
    }
  }
}
