package flood

import (
	"fmt"
	"math"
)

// Latency histogram layout: 1 ms buckets up to 10 s, 100 ms buckets up to 60 s, 1 s buckets up to 600 s.
// A bucket is named by its upper bound in ms and holds values in (previous bound, bound]; larger values land
// in the last bucket. Children export bucket counts, so merging across processes is exact.
const (
	fineMaxMs   = 10_000
	midStepMs   = 100
	midMaxMs    = 60_000
	coarseStep  = 1000
	coarseMaxMs = 600_000
	nFine       = fineMaxMs
	nMid        = (midMaxMs - fineMaxMs) / midStepMs
	nCoarse     = (coarseMaxMs - midMaxMs) / coarseStep
	latBuckets  = nFine + nMid + nCoarse
)

// maxHoldSec bounds the hold histogram; longer holds count in its last bucket.
const maxHoldSec = 3600

// latIndex maps a latency in ms to its bucket index.
func latIndex(ms float64) int {
	switch {
	case !(ms > 1): // also NaN and negative (clock skew): the first bucket
		return 0
	case ms <= fineMaxMs:
		return int(math.Ceil(ms)) - 1
	case ms <= midMaxMs:
		return nFine + int(math.Ceil((ms-fineMaxMs)/midStepMs)) - 1
	case ms <= coarseMaxMs:
		return nFine + nMid + int(math.Ceil((ms-midMaxMs)/coarseStep)) - 1
	}
	return latBuckets - 1
}

// latUpper is the upper bound in ms of bucket i.
func latUpper(i int) int {
	switch {
	case i < nFine:
		return i + 1
	case i < nFine+nMid:
		return fineMaxMs + (i-nFine+1)*midStepMs
	}
	return midMaxMs + (i-nFine-nMid+1)*coarseStep
}

// LatHist counts latencies in fixed buckets.
type LatHist struct{ counts []uint64 }

// NewLatHist returns an empty histogram.
func NewLatHist() *LatHist { return &LatHist{counts: make([]uint64, latBuckets)} }

// Add records one latency in milliseconds.
func (h *LatHist) Add(ms float64) { h.counts[latIndex(ms)]++ }

// Export returns the non-empty buckets keyed by upper bound in ms.
func (h *LatHist) Export() map[int]uint64 {
	out := map[int]uint64{}
	for i, n := range h.counts {
		if n > 0 {
			out[latUpper(i)] = n
		}
	}
	return out
}

// Take returns the non-empty buckets and empties them: a child reports what it counted since its previous report.
func (h *LatHist) Take() Buckets { return takeBuckets(h.counts) }

// AddBuckets adds a child's buckets.
func (h *LatHist) AddBuckets(b Buckets) error { return addBuckets(h.counts, b, "latency") }

// Total is the number of recorded values.
func (h *LatHist) Total() uint64 {
	var t uint64
	for _, n := range h.counts {
		t += n
	}
	return t
}

// Quantile returns the upper bound (ms) of the bucket holding the value of rank ceil(q*total), so q=1 gives the
// bucket of the maximum; 0 when empty.
func (h *LatHist) Quantile(q float64) int {
	total := h.Total()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	if rank < 1 {
		rank = 1
	}
	if rank > total {
		rank = total
	}
	var cum uint64
	for i, n := range h.counts {
		cum += n
		if cum >= rank {
			return latUpper(i)
		}
	}
	return latUpper(latBuckets - 1)
}

// HoldHist counts observed hold times in whole seconds (floor), the last bucket holding everything longer.
type HoldHist struct{ counts []uint64 }

// NewHoldHist returns an empty histogram.
func NewHoldHist() *HoldHist { return &HoldHist{counts: make([]uint64, maxHoldSec+1)} }

// Add records one hold time in milliseconds.
func (h *HoldHist) Add(ms uint32) {
	s := int(ms / 1000)
	if s > maxHoldSec {
		s = maxHoldSec
	}
	h.counts[s]++
}

// Export returns the non-empty buckets keyed by whole seconds.
func (h *HoldHist) Export() map[int]uint64 {
	out := map[int]uint64{}
	for s, n := range h.counts {
		if n > 0 {
			out[s] = n
		}
	}
	return out
}

// Take returns the non-empty buckets and empties them (see LatHist.Take).
func (h *HoldHist) Take() Buckets { return takeBuckets(h.counts) }

// AddBuckets adds a child's buckets.
func (h *HoldHist) AddBuckets(b Buckets) error { return addBuckets(h.counts, b, "hold") }

// Buckets is a histogram on its way from a child to the coordinator: [bucket index, count] of the non-empty buckets,
// in index order. A JSON array needs no key sort; the map it replaced (up to thousands of latency buckets, encoded
// by every child every second) was a child's largest user-space cost during a broadcast. A child sends only what it
// counted since its previous report (Take), so a report carries the buckets of the last quarter second, not the
// thousands a long broadcast fills, and the coordinator decodes each count once.
type Buckets [][2]uint64

func bucketsOf(counts []uint64) Buckets {
	var out Buckets
	for i, n := range counts {
		if n > 0 {
			out = append(out, [2]uint64{uint64(i), n})
		}
	}
	return out
}

func takeBuckets(counts []uint64) Buckets {
	out := bucketsOf(counts)
	for _, b := range out {
		counts[b[0]] = 0
	}
	return out
}

func addBuckets(counts []uint64, b Buckets, what string) error {
	for _, in := range b {
		if in[0] >= uint64(len(counts)) {
			return fmt.Errorf("%s bucket index %d out of range 0-%d", what, in[0], len(counts)-1)
		}
		counts[in[0]] += in[1]
	}
	return nil
}
