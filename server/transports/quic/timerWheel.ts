/**
 * One timer for every QUIC connection (hashed timer wheel): a `setTimeout` per connection,
 * re-armed after every packet, would cost more than the packet. Each entry has one deadline;
 * the wheel ticks every `tickMs` while it holds entries and fires those whose deadline passed.
 * Deadlines fire up to one tick late, never early (QUIC timers tolerate that: RFC 9002 section
 * 6.1.2's timer granularity is 1 ms and our tick is a few).
 */

/** What the wheel stores: it keeps its bookkeeping on the entry itself (no map lookups). */
export interface WheelEntry {
  /** Absolute ms (wheel clock); Infinity: not scheduled. Managed by the wheel. */
  wheelDeadline: number;
  /** Slot index, -1 when not scheduled. Managed by the wheel. */
  wheelSlot: number;
}

export type TimerWheelParams<T extends WheelEntry> = {
  tickMs: number;
  /** Slots; the wheel spans `slots * tickMs`, later deadlines wait in the last slot and are re-filed. */
  slots: number;
  onFire: (entry: T, now: number) => void;
  now?: () => number;
};

export class TimerWheel<T extends WheelEntry> {
  readonly #tickMs: number;
  /** Created on first use: a client process holds one wheel per connection, mostly empty. */
  readonly #slots: (Set<T> | undefined)[];
  readonly #onFire: (entry: T, now: number) => void;
  readonly #now: () => number;
  /** Index of the slot that holds deadlines in [#cursorTime, #cursorTime + tickMs). */
  #cursor = 0;
  #cursorTime: number;
  #size = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Wheel time the armed timer fires at (Infinity: not armed). */
  #armedAt = Number.POSITIVE_INFINITY;

  constructor(params: TimerWheelParams<T>) {
    this.#tickMs = params.tickMs;
    this.#slots = new Array<Set<T> | undefined>(params.slots).fill(undefined);
    this.#onFire = params.onFire;
    this.#now = params.now ?? (() => performance.now());
    this.#cursorTime = this.#now();
  }

  get size(): number {
    return this.#size;
  }

  /** (Re)schedules `entry` at absolute time `deadline` (Infinity cancels). */
  schedule(entry: T, deadline: number): void {
    if (entry.wheelSlot !== -1) {
      if (entry.wheelDeadline === deadline) return;
      this.#slots[entry.wheelSlot]?.delete(entry);
      entry.wheelSlot = -1;
      this.#size--;
    }
    entry.wheelDeadline = deadline;
    if (deadline === Number.POSITIVE_INFINITY) return;
    if (this.#size === 0) this.#cursorTime = this.#now() - (this.#now() % this.#tickMs);
    const ticks = Math.max(0, Math.floor((deadline - this.#cursorTime) / this.#tickMs));
    const slot = (this.#cursor + Math.min(ticks, this.#slots.length - 1)) % this.#slots.length;
    let set = this.#slots[slot];
    if (set === undefined) {
      set = new Set<T>();
      this.#slots[slot] = set;
    }
    set.add(entry);
    entry.wheelSlot = slot;
    this.#size++;
    // Wake at the end of this slot's span, unless the timer already fires by then.
    this.#armAt(this.#cursorTime + (Math.min(ticks, this.#slots.length - 1) + 1) * this.#tickMs);
  }

  cancel(entry: T): void {
    this.schedule(entry, Number.POSITIVE_INFINITY);
  }

  /** Stops ticking and forgets every entry. */
  clear(): void {
    for (const slot of this.#slots) {
      if (slot === undefined) continue;
      for (const entry of slot) {
        entry.wheelSlot = -1;
        entry.wheelDeadline = Number.POSITIVE_INFINITY;
      }
      slot.clear();
    }
    this.#size = 0;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Number.POSITIVE_INFINITY;
  }

  #armAt(at: number): void {
    if (this.#timer !== undefined) {
      if (at >= this.#armedAt) return;
      clearTimeout(this.#timer);
    }
    this.#armedAt = at;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, at - this.#now()));
    this.#timer.unref();
  }

  /** Arms the timer for the first non-empty slot from the cursor. */
  #armNext(): void {
    const slots = this.#slots;
    let k = 0;
    while (k < slots.length - 1 && (slots[(this.#cursor + k) % slots.length]?.size ?? 0) === 0) k++;
    this.#armAt(this.#cursorTime + (k + 1) * this.#tickMs);
  }

  #tick(): void {
    this.#timer = undefined;
    this.#armedAt = Number.POSITIVE_INFINITY;
    const now = this.#now();
    // Advance through every slot whose time span has fully passed.
    while (this.#cursorTime + this.#tickMs <= now && this.#size > 0) {
      const slot = this.#slots[this.#cursor];
      if (slot !== undefined && slot.size > 0) {
        const due = [...slot];
        slot.clear();
        for (const entry of due) {
          entry.wheelSlot = -1;
          this.#size--;
        }
        for (const entry of due) {
          if (entry.wheelSlot !== -1) continue; // re-scheduled by an earlier callback
          if (entry.wheelDeadline <= now) {
            entry.wheelDeadline = Number.POSITIVE_INFINITY;
            this.#onFire(entry, now);
          } else {
            this.schedule(entry, entry.wheelDeadline); // beyond the wheel's span: file it again
          }
        }
      }
      this.#cursor = (this.#cursor + 1) % this.#slots.length;
      this.#cursorTime += this.#tickMs;
    }
    if (this.#size === 0) return;
    this.#armNext();
  }
}
