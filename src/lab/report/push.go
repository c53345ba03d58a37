package report

// The push figures of a run: deliveries against what each broadcast owed, latency quantiles, gaps.

import (
	"math"
	"sort"

	"github.com/comet-lab/comet-lab/src/lib/schema"
)

func (s *Summary) pushSummary(in *Input, fail func(string, ...any)) {
	hist := map[float64]float64{}
	var clientMax float64 = math.NaN()
	for _, c := range in.Clients {
		last := c.Last()
		if last == nil {
			continue
		}
		for k, n := range last.PushHistMs {
			hist[float64(k)] += float64(n)
		}
		if m := last.PushMaxMs; m > 0 && (math.IsNaN(clientMax) || m > clientMax) {
			clientMax = m
		}
	}
	s.Broadcasts = len(in.Broadcasts)
	if s.Broadcasts == 0 && in.Stats != nil {
		s.Broadcasts = int(in.Stats.Push.Broadcasts)
	}
	s.PushRan = bool(in.Run.Params.Push) || in.HaveBcast || len(hist) > 0
	if !s.PushRan {
		return
	}
	var gaps, missed float64
	for _, c := range in.Clients {
		if last := c.Last(); last != nil {
			gaps += float64(last.PushGaps)
			missed += float64(last.PushMissed)
		}
	}
	s.PushGaps, s.PushMissed = ptr(gaps), ptr(missed)
	if st := in.StatsEnd; st != nil && st.Engine != "nchan" { // nchan counts no deliveries
		s.ServerPushDelivered = ptr(float64(st.Push.Delivered))
	}
	if missed > 0 {
		fail("comet dropped %.0f seqs before their subscribers saw them (%.0f answers with X-Oldest-Seq)", missed, gaps)
	}
	var delivered float64
	for _, n := range hist {
		delivered += n
	}
	s.BroadcastDelivered = ptr(delivered)
	// Every connection subscribes, and a subscriber between two polls fetches the
	// stored message on its next poll, so each broadcast is owed to every connection
	// the server held when it was sent.
	var expected float64
	if len(in.Broadcasts) > 0 {
		s.BroadcastRows = broadcastRows(in, s.ConnsPeakHeld)
		for _, r := range s.BroadcastRows {
			expected += r.Owed
		}
	} else {
		expected = float64(s.Broadcasts) * s.ConnsPeakHeld
	}
	s.BroadcastExpected = ptr(expected)
	p50, p99, top := histQuantiles(hist)
	s.BroadcastP50Ms, s.BroadcastP99Ms = ptr(p50), ptr(p99)
	if !math.IsNaN(clientMax) {
		top = clientMax
	}
	s.BroadcastMaxMs = ptr(top)
	if s.Broadcasts == 0 {
		fail("push ran but no broadcast was recorded")
	} else if delivered < expected {
		fail("push delivered %.0f of %.0f expected messages", delivered, expected)
	}
}

// BroadcastRow is one broadcast as the clients saw it: owed to every connection the server held when it was sent,
// delivered when a subscriber's answer carried its seq (held then, or fetched on the next poll), and how long after
// the publish its latest delivery came.
type BroadcastRow struct {
	Seq          uint64   `json:"seq"`
	SentOffsetS  float64  `json:"sent_offset_s"` // after the first broadcast
	Owed         float64  `json:"owed"`
	Delivered    float64  `json:"delivered"`
	LatestMs     *float64 `json:"latest_ms"`     // nil when the clients did not record it (older flood)
	CometWriteS  float64  `json:"comet_write_s"` // comet's publish call: every worker wrote to its held subscribers
	HeldAnswered float64  `json:"held_answered"` // subscribers held at that moment, answered at once
}

func broadcastRows(in *Input, connsFallback float64) []BroadcastRow {
	rows := make([]BroadcastRow, 0, len(in.Broadcasts))
	for _, b := range in.Broadcasts {
		r := BroadcastRow{Seq: b.Seq, SentOffsetS: b.SentUnix - in.Broadcasts[0].SentUnix, Owed: b.ConnsAtSend,
			CometWriteS: b.AnswerS, HeldAnswered: b.Answered}
		if r.Owed == 0 { // runs before conns_at_send: the monitor's count at or just before the send (peers included)
			r.Owed = connsAt(in.Monitor, b.SentUnix, connsFallback)
		} else {
			// broadcast.py reads the publishing server's /stats; a scale-out peer's subscribers are owed it too.
			for _, p := range in.Peers {
				r.Owed += connsAt(p.Monitor, b.SentUnix, 0)
			}
		}
		for _, c := range in.Clients {
			last := c.Last()
			if last == nil {
				continue
			}
			r.Delivered += float64(last.PushPerSeq[b.Seq])
			if ms, ok := last.PushMaxMsPerSeq[b.Seq]; ok && (r.LatestMs == nil || float64(ms) > *r.LatestMs) {
				r.LatestMs = ptr(float64(ms))
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// histQuantiles returns the bucket upper bounds holding the 50th and 99th
// percentile (the smallest bound whose cumulative count reaches ceil(q*total)) and
// the largest non-empty bound. An infinite bound maps to NaN.
func histQuantiles(hist map[float64]float64) (p50, p99, top float64) {
	bounds := make([]float64, 0, len(hist))
	var total float64
	for b, n := range hist {
		if n > 0 {
			bounds = append(bounds, b)
			total += n
		}
	}
	if total == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	sort.Float64s(bounds)
	q := func(frac float64) float64 {
		rank := math.Ceil(frac * total)
		var cum float64
		for _, b := range bounds {
			cum += hist[b]
			if cum >= rank {
				return finite(b)
			}
		}
		return finite(bounds[len(bounds)-1])
	}
	return q(0.5), q(0.99), finite(bounds[len(bounds)-1])
}

// connsAt returns conns of the last monitor row at or before t that has them (the connections a broadcast sent
// at t is owed to), else of the first row after t, else fallback. Not the row nearest in time: under a push the
// admin can be too busy to answer labmon, and the nearest row with conns may then be one of the drain at the end.
func connsAt(rows []schema.MonitorRow, t, fallback float64) float64 {
	best, after := math.NaN(), math.NaN()
	for _, r := range rows {
		switch {
		case math.IsNaN(r.Conns):
		case r.T <= t:
			best = r.Conns
		case math.IsNaN(after):
			after = r.Conns
		}
	}
	switch {
	case !math.IsNaN(best):
		return best
	case !math.IsNaN(after):
		return after
	}
	return fallback
}

// clientsAt sums, over the clients, value linearly interpolated between their lines at t (0 before a client's
// first line, its last value after its last).
func clientsAt(clients []Client, t float64, value func(*schema.FloodFinal) float64) float64 {
	if math.IsNaN(t) {
		return math.NaN()
	}
	var sum float64
	for _, c := range clients {
		prevT, prevV := math.Inf(-1), 0.0
		v := 0.0
		for i := range c.Lines {
			l := &c.Lines[i]
			cur := value(l)
			if l.T >= t {
				if l.T == t || math.IsInf(prevT, -1) {
					v = cur * b2f(l.T == t)
				} else {
					v = prevV + (cur-prevV)*(t-prevT)/(l.T-prevT)
				}
				break
			}
			prevT, prevV, v = l.T, cur, cur
		}
		sum += v
	}
	return sum
}
