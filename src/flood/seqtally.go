package flood

// recentSeqs is how many seqs seqTallies keeps in its array: a broadcast's answers all carry one seq and arrive
// together, and a few publishes may overlap.
const recentSeqs = 4

// seqTally is what a child saw of one pushed seq: how many answers carried it and the latest one's latency.
type seqTally struct{ seq, count, maxMs uint64 }

// seqTallies counts answers per pushed seq with at most limit distinct seqs. The last few seqs sit in a small array
// searched in order, so a delivery costs no map operation; a seq pushed out of the array moves to the map, and
// comes back from it when it is seen again, so a seq is in exactly one of the two.
type seqTallies struct {
	recent [recentSeqs]seqTally
	used   int // entries of recent in use
	next   int // the entry the next new seq replaces once recent is full (oldest first)
	older  map[uint64]seqTally
	limit  int
}

func newSeqTallies(limit int) *seqTallies {
	return &seqTallies{older: map[uint64]seqTally{}, limit: limit}
}

// add counts one answer carrying seq with latency ms; false when seq is new and limit seqs are counted already.
func (t *seqTallies) add(seq, ms uint64) bool {
	for i := 0; i < t.used; i++ {
		if e := &t.recent[i]; e.seq == seq {
			e.count++
			e.maxMs = max(e.maxMs, ms)
			return true
		}
	}
	e, ok := t.older[seq]
	if ok {
		delete(t.older, seq)
	} else if t.used+len(t.older) >= t.limit {
		return false
	} else {
		e = seqTally{seq: seq}
	}
	e.count++
	e.maxMs = max(e.maxMs, ms)
	if t.used < recentSeqs {
		t.recent[t.used] = e
		t.used++
		return true
	}
	old := t.recent[t.next]
	t.older[old.seq] = old
	t.recent[t.next] = e
	t.next = (t.next + 1) % recentSeqs
	return true
}

// len is the number of distinct seqs counted.
func (t *seqTallies) len() int { return t.used + len(t.older) }

// export returns answers per seq and the largest latency per seq.
func (t *seqTallies) export() (count, maxMs map[uint64]uint64) {
	count, maxMs = make(map[uint64]uint64, t.len()), make(map[uint64]uint64, t.len())
	for _, e := range t.recent[:t.used] {
		count[e.seq], maxMs[e.seq] = e.count, e.maxMs
	}
	for seq, e := range t.older {
		count[seq], maxMs[seq] = e.count, e.maxMs
	}
	return count, maxMs
}
