/**
 * Reading what a room stream received, for tests that say "this arrived" and "nothing else
 * did". A barrier is a message from another peer: messages ignore proximity and travel on the
 * same stream as every other notification, so once it arrived, anything sent to the receiver
 * before it has arrived too.
 */
import type { OdinRoom } from '../../client/odinClient.ts';

export type Notification = { method: string; params: Record<string, unknown> };

/** Records every notification `room` gets from now on. */
export function record(room: OdinRoom): Notification[] {
  const seen: Notification[] = [];
  room.on('notification', (method, params) =>
    seen.push({ method, params: params as Record<string, unknown> }),
  );
  return seen;
}

/** RoomUpdated updates of one kind among recorded notifications. */
export function updates(seen: Notification[], kind?: string): Record<string, unknown>[] {
  return seen
    .filter((n) => n.method === 'RoomUpdated')
    .flatMap((n) => n.params.updates as Record<string, unknown>[])
    .filter((update) => kind === undefined || update.kind === kind);
}

let barrierCount = 0;

/**
 * Sends a message from `from` to `to` and waits until it arrives: every notification sent to
 * `to` earlier has arrived by then. Removes the barrier from `seen` when given.
 */
export async function barrier(from: OdinRoom, to: OdinRoom, seen?: Notification[]): Promise<void> {
  const marker = new TextEncoder().encode(`barrier-${++barrierCount}`);
  const arrived = to.next('message', ({ message }) => Buffer.from(message).equals(marker));
  await from.sendMessage(marker, [to.ownPeerId]);
  await arrived;
  if (seen !== undefined) {
    const index = seen.findIndex(
      (n) =>
        n.method === 'MessageReceived' &&
        Buffer.from(n.params.message as Uint8Array).equals(Buffer.from(marker)),
    );
    if (index >= 0) seen.splice(index, 1);
  }
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (data: Uint8Array): string => new TextDecoder().decode(data);
