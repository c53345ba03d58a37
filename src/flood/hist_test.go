package flood

import (
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestLatBuckets(t *testing.T) {
	tests := []struct {
		ms    float64
		upper int
	}{
		{-5, 1}, {0, 1}, {0.4, 1}, {1, 1}, {1.01, 2}, {9999.5, 10000}, {10000, 10000},
		{10000.1, 10100}, {10100, 10100}, {59999, 60000}, {60000, 60000}, {60000.5, 61000},
		{600000, 600000}, {1e9, 600000},
	}
	for _, tc := range tests {
		i := latIndex(tc.ms)
		if got := latUpper(i); got != tc.upper {
			t.Errorf("latency %v ms: bucket upper %d, want %d", tc.ms, got, tc.upper)
		}
	}
	for i := 1; i < latBuckets; i++ {
		if latUpper(i) <= latUpper(i-1) {
			t.Fatalf("bucket bounds not increasing at %d", i)
		}
	}
}

func TestLatHistMergeQuantiles(t *testing.T) {
	// Two "processes" whose merged data is 1..100 ms plus one 15 s outlier.
	a, b := NewLatHist(), NewLatHist()
	for ms := 1; ms <= 100; ms++ {
		if ms%2 == 0 {
			a.Add(float64(ms))
		} else {
			b.Add(float64(ms))
		}
	}
	b.Add(15000)
	merged := NewLatHist()
	for _, h := range []*LatHist{a, b} {
		if err := merged.AddBuckets(bucketsOf(h.counts)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		q    float64
		want int
	}{
		{0.5, 51},   // rank ceil(0.5*101) = 51
		{0.99, 100}, // rank 100
		{1, 15000},
		{0, 1},
	}
	for _, tc := range tests {
		if got := merged.Quantile(tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %d, want %d", tc.q, got, tc.want)
		}
	}
	if merged.Total() != 101 {
		t.Errorf("Total = %d, want 101", merged.Total())
	}
	if NewLatHist().Quantile(0.5) != 0 {
		t.Error("empty histogram quantile should be 0")
	}
	if err := merged.AddBuckets(Buckets{{latBuckets, 1}}); err == nil {
		t.Error("AddBuckets accepted an index past the last bucket")
	}
}

func TestHoldHist(t *testing.T) {
	h := NewHoldHist()
	for _, ms := range []uint32{0, 999, 1000, 1999, 90_500, 5_000_000} {
		h.Add(ms)
	}
	got := h.Export()
	want := map[int]uint64{0: 2, 1: 2, 90: 1, maxHoldSec: 1}
	if len(got) != len(want) {
		t.Fatalf("Export = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("bucket %d = %d, want %d", k, got[k], v)
		}
	}
	m := NewHoldHist()
	m.AddBuckets(bucketsOf(h.counts))
	m.AddBuckets(bucketsOf(h.counts))
	if m.Export()[1] != 4 || m.Export()[maxHoldSec] != 2 {
		t.Errorf("merged buckets 1 and %d = %d, %d, want 4, 2", maxHoldSec, m.Export()[1], m.Export()[maxHoldSec])
	}
	if err := m.AddBuckets(Buckets{{maxHoldSec + 1, 1}}); err == nil {
		t.Error("AddBuckets accepted a second past the last bucket")
	}
}

func TestTopErrors(t *testing.T) {
	errs := map[string]uint64{"ETIMEDOUT": 5, "ECONNREFUSED": 9, "EMFILE": 1, "EFOO": 0}
	got := topErrors(errs, 2, true)
	if !strings.HasPrefix(got, "ECONNREFUSED x9 (server not listening") || !strings.Contains(got, "ETIMEDOUT x5 (SYN dropped") ||
		strings.Contains(got, "EMFILE") {
		t.Errorf("topErrors = %q", got)
	}
	if got := topErrors(errs, 1, false); got != "ECONNREFUSED x9" {
		t.Errorf("topErrors without hints = %q", got)
	}
	if errnoName(syscall.ECONNREFUSED) != "ECONNREFUSED" || errnoName(nil) != "other" {
		t.Error("errnoName does not name errnos")
	}
}

func TestHistTake(t *testing.T) {
	tests := []struct {
		name   string
		rounds [][]float64 // latencies added before each Take
	}{
		{"empty", [][]float64{nil, nil}},
		{"one round", [][]float64{{1, 2, 2, 15000}}},
		{"same buckets again", [][]float64{{5, 5}, {5}, nil, {5, 700000}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, whole, summed := NewLatHist(), NewLatHist(), NewLatHist()
			for _, round := range tc.rounds {
				var n uint64
				for _, ms := range round {
					h.Add(ms)
					whole.Add(ms)
					n++
				}
				taken := h.Take()
				var got uint64
				for _, b := range taken {
					got += b[1]
				}
				if got != n {
					t.Errorf("Take returned %d counts, want the %d added since the last Take", got, n)
				}
				if err := summed.AddBuckets(taken); err != nil {
					t.Fatal(err)
				}
				if h.Total() != 0 {
					t.Errorf("after Take the histogram still holds %d", h.Total())
				}
			}
			if !reflect.DeepEqual(summed.Export(), whole.Export()) {
				t.Errorf("summed takes %v, want %v", summed.Export(), whole.Export())
			}
		})
	}
	hh := NewHoldHist()
	hh.Add(1500)
	hh.Add(1999)
	if b := hh.Take(); len(b) != 1 || b[0] != [2]uint64{1, 2} {
		t.Errorf("HoldHist.Take = %v, want [[1 2]]", b)
	}
	if b := hh.Take(); len(b) != 0 {
		t.Errorf("second HoldHist.Take = %v, want empty", b)
	}
}
