package report

// When each client started: the lab's start barrier as it came out.

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// clientStarts records when each client's flood started connecting, from its first line.
func (s *Summary) clientStarts(in *Input) {
	for _, c := range in.Clients {
		if len(c.Lines) == 0 {
			continue
		}
		if s.ClientStartUnix == nil {
			s.ClientStartUnix = map[string]float64{}
		}
		first := c.Lines[0]
		s.ClientStartUnix[c.Name] = first.T - first.ElapsedS
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
