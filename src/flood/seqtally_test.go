package flood

import (
	"reflect"
	"testing"
)

func TestSeqTallies(t *testing.T) {
	type answer struct{ seq, ms uint64 }
	tests := []struct {
		name      string
		limit     int
		answers   []answer
		count     map[uint64]uint64
		maxMs     map[uint64]uint64
		refused   int
		distincts int
	}{
		{name: "one broadcast", limit: 10, answers: []answer{{7, 3}, {7, 9}, {7, 1}},
			count: map[uint64]uint64{7: 3}, maxMs: map[uint64]uint64{7: 9}, distincts: 1},
		{name: "more seqs than the array: the oldest move to the map and come back",
			limit: 10, answers: []answer{{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}, {6, 6}, {1, 10}, {2, 1}, {6, 1}},
			count:     map[uint64]uint64{1: 2, 2: 2, 3: 1, 4: 1, 5: 1, 6: 2},
			maxMs:     map[uint64]uint64{1: 10, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6},
			distincts: 6},
		{name: "limit refuses new seqs only", limit: 2, answers: []answer{{1, 1}, {2, 2}, {3, 3}, {1, 4}, {3, 3}},
			count: map[uint64]uint64{1: 2, 2: 1}, maxMs: map[uint64]uint64{1: 4, 2: 2}, refused: 2, distincts: 2},
		{name: "limit past the array", limit: 5, answers: []answer{{1, 1}, {2, 1}, {3, 1}, {4, 1}, {5, 1}, {6, 1}, {1, 1}},
			count: map[uint64]uint64{1: 2, 2: 1, 3: 1, 4: 1, 5: 1}, maxMs: map[uint64]uint64{1: 1, 2: 1, 3: 1, 4: 1, 5: 1},
			refused: 1, distincts: 5},
		{name: "none", limit: 3, count: map[uint64]uint64{}, maxMs: map[uint64]uint64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tl := newSeqTallies(tc.limit)
			refused := 0
			for _, a := range tc.answers {
				if !tl.add(a.seq, a.ms) {
					refused++
				}
			}
			count, maxMs := tl.export()
			if !reflect.DeepEqual(count, tc.count) || !reflect.DeepEqual(maxMs, tc.maxMs) {
				t.Errorf("export = %v, %v; want %v, %v", count, maxMs, tc.count, tc.maxMs)
			}
			if refused != tc.refused || tl.len() != tc.distincts {
				t.Errorf("refused %d, distinct %d; want %d, %d", refused, tl.len(), tc.refused, tc.distincts)
			}
		})
	}
}
