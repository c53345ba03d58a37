package report

// When each client started: the lab's start barrier as it came out.

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// clientStarts records when each client's flood started connecting, from its first line, and the accept ramp
// from the earliest start to the last client's own ramp end (flood's ramp_s, not the once-a-second lines).
func (s *Summary) clientStarts(in *Input) {
	first, last, done := math.Inf(1), math.Inf(-1), 0
	for _, c := range in.Clients {
		if len(c.Lines) == 0 {
			continue
		}
		if s.ClientStartUnix == nil {
			s.ClientStartUnix = map[string]float64{}
		}
		line := c.Lines[0]
		start := line.T - line.ElapsedS
		s.ClientStartUnix[c.Name] = start
		first = math.Min(first, start)
		if l := c.Last(); l != nil && l.RampS > 0 {
			last = math.Max(last, start+l.RampS)
			done++
		}
	}
	if done > 0 && done == len(in.Clients) {
		s.AcceptRampSeconds = ptr(last - first)
	}
}

// ClientStartOffsets lists each client's start relative to the earliest, in client order ("client1 +0.00 s").
func (s *Summary) ClientStartOffsets() string {
	if len(s.ClientStartUnix) == 0 {
		return ""
	}
	names := make([]string, 0, len(s.ClientStartUnix))
	earliest := math.Inf(1)
	for name, t := range s.ClientStartUnix {
		names = append(names, name)
		earliest = math.Min(earliest, t)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%s +%.2f s", name, s.ClientStartUnix[name]-earliest)
	}
	return strings.Join(parts, ", ")
}
