import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketOf, bucketValue, Histogram, median } from '../../bench/stats.ts';

test('values below 128 µs have a bucket each', () => {
  for (const v of [0, 1, 64, 127]) assert.equal(bucketValue(bucketOf(v)), v);
});

test('a bucket stands for its values within 1%', () => {
  for (const v of [128, 1_000, 12_345, 999_999, 5e7]) {
    const back = bucketValue(bucketOf(v));
    assert.ok(Math.abs(back - v) / v < 0.01, `${v} -> ${back}`);
  }
});

test('buckets grow with the value', () => {
  let last = -1;
  for (let v = 0; v < 1e6; v = v * 1.07 + 1) {
    const b = bucketOf(v);
    assert.ok(b >= last, `bucket of ${v} went down`);
    last = b;
  }
});

test('percentiles of 1..1000 ms', () => {
  const h = new Histogram();
  for (let ms = 1; ms <= 1000; ms++) h.record(ms * 1000);
  assert.equal(h.count, 1000);
  assert.ok(Math.abs(h.percentile(50) - 500_000) < 5_000);
  assert.ok(Math.abs(h.percentile(99) - 990_000) < 10_000);
  assert.equal(h.percentile(100), 1_000_000);
  assert.equal(h.mean, 500_500);
});

test('an empty histogram has no percentiles', () => {
  assert.ok(Number.isNaN(new Histogram().percentile(50)));
});

test('histograms from several workers merge by adding counts', () => {
  const a = new Histogram();
  const b = new Histogram();
  for (let i = 0; i < 90; i++) a.record(100);
  for (let i = 0; i < 10; i++) b.record(10_000);
  const merged = new Histogram();
  merged.merge(JSON.parse(JSON.stringify(a.toData())));
  merged.merge(JSON.parse(JSON.stringify(b.toData())));
  assert.equal(merged.count, 100);
  assert.equal(merged.percentile(90), 100);
  assert.ok(Math.abs(merged.percentile(95) - 10_000) < 100);
  assert.equal(merged.min, 100);
  assert.equal(merged.max, 10_000);
});

test('median of odd and even counts', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});
