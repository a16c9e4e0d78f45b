/**
 * Latency histograms for the load generator: log-linear buckets (as HdrHistogram does) of
 * microsecond values, < 1% relative error, a fixed 2,048-number array, so recording is one
 * increment and histograms from several worker processes merge by adding counts.
 *
 * Values 0..127 µs have a bucket each; above, every power of two is split in 64 buckets.
 */

const LINEAR = 128;
const SUB = 64;
const MAX_SHIFT = 31;
const BUCKETS = LINEAR + MAX_SHIFT * SUB;

/** Bucket of a value (µs, clamped to 0..2^37). */
export function bucketOf(value: number): number {
  const v = value <= 0 ? 0 : Math.floor(value);
  if (v < LINEAR) return v;
  // shift so that v >> shift is in [64, 128)
  const shift = Math.min(MAX_SHIFT, Math.floor(Math.log2(v)) - 6);
  const top = Math.min(127, Math.floor(v / 2 ** shift));
  return LINEAR + (shift - 1) * SUB + (top - SUB);
}

/** The value a bucket stands for: the middle of its range. */
export function bucketValue(bucket: number): number {
  if (bucket < LINEAR) return bucket;
  const shift = Math.floor((bucket - LINEAR) / SUB) + 1;
  const top = ((bucket - LINEAR) % SUB) + SUB;
  return top * 2 ** shift + 2 ** shift / 2;
}

/** A sparse, JSON-friendly form: [bucket, count] pairs. */
export type HistogramData = [number, number][];

export class Histogram {
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;
  sum = 0;

  record(value: number): void {
    this.counts[bucketOf(value)]!++;
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  /** The value at percentile `p` (0..100): the smallest bucket value with >= p% at or below it. */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, bucketValue(i)));
    }
    return this.max;
  }

  get mean(): number {
    return this.count === 0 ? Number.NaN : this.sum / this.count;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.max = 0;
    this.sum = 0;
  }

  toData(): { buckets: HistogramData; min: number; max: number; sum: number } {
    const buckets: HistogramData = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return { buckets, min: this.min, max: this.max, sum: this.sum };
  }

  /** Adds another histogram's counts (from `toData()`, e.g. from a worker process). */
  merge(data: { buckets: HistogramData; min: number; max: number; sum: number }): void {
    for (const [bucket, count] of data.buckets) {
      this.counts[bucket]! += count;
      this.count += count;
    }
    this.sum += data.sum;
    if (data.min < this.min) this.min = data.min;
    if (data.max > this.max) this.max = data.max;
  }
}

/** Median of numbers (the middle one, or the mean of the two middle ones); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
