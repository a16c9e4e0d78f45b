/**
 * Splits a fuzz input into the choices a target makes (which method, how to chunk a stream)
 * without a dependency on Jazzer.js, so the same targets replay under `node --test`
 * (test/fuzz/corpus.test.ts). Reads past the end return zeros and empty slices.
 */
export class Cursor {
  readonly #data: Uint8Array;
  #offset = 0;

  constructor(data: Uint8Array) {
    this.#data = data;
  }

  get remaining(): number {
    return this.#data.length - this.#offset;
  }

  byte(): number {
    return this.#offset < this.#data.length ? this.#data[this.#offset++]! : 0;
  }

  u16(): number {
    return (this.byte() << 8) | this.byte();
  }

  /** The next `length` bytes (fewer at the end). */
  bytes(length: number): Uint8Array {
    const end = Math.min(this.#data.length, this.#offset + length);
    const slice = this.#data.subarray(this.#offset, end);
    this.#offset = end;
    return slice;
  }

  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }
}

/** Throws when `condition` is false: a broken invariant is a finding, like a crash. */
export function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`invariant broken: ${message}`);
}
