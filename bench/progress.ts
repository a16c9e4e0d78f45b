/** A one-line progress bar on a TTY (redrawn with \r), silent otherwise. */
export class ProgressBar {
  readonly #stream: NodeJS.WriteStream;
  readonly #enabled: boolean;
  #last = '';

  constructor(stream: NodeJS.WriteStream = process.stderr, enabled = true) {
    this.#stream = stream;
    this.#enabled = enabled && stream.isTTY === true;
  }

  update(label: string, fraction: number): void {
    if (!this.#enabled) return;
    const width = 24;
    const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(fraction * 100)).padStart(3)}% ${label}`;
    const columns = this.#stream.columns ?? 100;
    const text = line.slice(0, columns - 1);
    if (text === this.#last) return;
    this.#last = text;
    this.#stream.write(`\r${text}\x1b[K`);
  }

  done(): void {
    if (!this.#enabled || this.#last === '') return;
    this.#stream.write('\r\x1b[K');
    this.#last = '';
  }
}
