package main

import "math"

// The log-linear latency histogram of bench/stats.ts, bucket for bucket, so that the
// coordinator merges and reads LiveKit's latencies exactly as it does grid's: values
// 0..127 µs have a bucket each; above, every power of two is split in 64 buckets.
const (
	linear   = 128
	sub      = 64
	maxShift = 31
	buckets  = linear + maxShift*sub
)

func bucketOf(value int64) int {
	if value <= 0 {
		return 0
	}
	if value < linear {
		return int(value)
	}
	shift := int(math.Floor(math.Log2(float64(value)))) - 6
	if shift > maxShift {
		shift = maxShift
	}
	top := int(value >> shift)
	if top > 127 {
		top = 127
	}
	return linear + (shift-1)*sub + (top - sub)
}

type histogram struct {
	counts   [buckets]float64
	min, max float64
	sum      float64
}

// histogramData is HistogramMessage of bench/workerProtocol.ts.
type histogramData struct {
	Buckets [][2]float64 `json:"buckets"`
	Min     float64      `json:"min"`
	Max     float64      `json:"max"`
	Sum     float64      `json:"sum"`
}

func newHistogram() *histogram {
	h := &histogram{}
	h.reset()
	return h
}

func (h *histogram) reset() {
	h.counts = [buckets]float64{}
	h.min, h.max, h.sum = math.Inf(1), 0, 0
}

func (h *histogram) record(v int64) {
	h.counts[bucketOf(v)]++
	f := float64(v)
	h.sum += f
	if f < h.min {
		h.min = f
	}
	if f > h.max {
		h.max = f
	}
}

func (h *histogram) data() histogramData {
	d := histogramData{Buckets: [][2]float64{}, Min: h.min, Max: h.max, Sum: h.sum}
	if math.IsInf(d.Min, 1) {
		d.Min = 1e18 // JSON has no Infinity; any real sample is smaller
	}
	for i, c := range h.counts {
		if c > 0 {
			d.Buckets = append(d.Buckets, [2]float64{float64(i), c})
		}
	}
	return d
}
