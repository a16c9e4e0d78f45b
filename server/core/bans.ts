/**
 * Bans: rooms closed for a while (supervisor `RoomClose` with a ban time) and users refused
 * from a room (`RoomBanClient`). Times are in the Sfu clock's milliseconds; a ban ends by
 * itself (checked on join) and `prune` forgets ended ones.
 */
export class Bans {
  readonly #rooms = new Map<string, number>();
  readonly #users = new Map<string, Map<string, number>>();

  banRoom(roomKey: string, until: number): void {
    this.#rooms.set(roomKey, Math.max(until, this.#rooms.get(roomKey) ?? 0));
  }

  banUser(roomKey: string, userId: string, until: number): void {
    let users = this.#users.get(roomKey);
    if (users === undefined) {
      users = new Map();
      this.#users.set(roomKey, users);
    }
    users.set(userId, Math.max(until, users.get(userId) ?? 0));
  }

  roomBanned(roomKey: string, now: number): boolean {
    return (this.#rooms.get(roomKey) ?? 0) > now;
  }

  userBanned(roomKey: string, userId: string, now: number): boolean {
    return (this.#users.get(roomKey)?.get(userId) ?? 0) > now;
  }

  prune(now: number): void {
    for (const [key, until] of this.#rooms) if (until <= now) this.#rooms.delete(key);
    for (const [key, users] of this.#users) {
      for (const [user, until] of users) if (until <= now) users.delete(user);
      if (users.size === 0) this.#users.delete(key);
    }
  }
}
