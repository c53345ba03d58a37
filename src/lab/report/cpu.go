package report

// Per-event CPU: comet's CPU seconds in a window divided by the answers or deliveries it made.

import (
	"math"

	"github.com/comet-lab/comet-lab/src/lib/schema"
)

// perEventCPU fills server_cpu_us_per_answer (comet CPU from the end of the ramp to the first broadcast, or to
// the last sample with conns, ÷ the clients' non-push answers in that window) and server_cpu_us_per_delivery
// (comet CPU from the first broadcast until the clients' push_received stops growing ÷ deliveries in that window).
func (s *Summary) perEventCPU(in *Input, holdFrom float64) {
	holdTo := math.NaN()
	for _, r := range in.Monitor {
		if !math.IsNaN(r.Conns) && r.T > holdFrom {
			holdTo = r.T
		}
	}
	if len(in.Broadcasts) > 0 {
		holdTo = in.Broadcasts[0].SentUnix
	}
	hold := func(l *schema.FloodFinal) float64 { return float64(l.Responses) - float64(l.PushReceived) }
	push := func(l *schema.FloodFinal) float64 { return float64(l.PushReceived) }
	if answers := clientsAt(in.Clients, holdTo, hold) - clientsAt(in.Clients, holdFrom, hold); answers > 0 {
		s.ServerCPUUsPerAnswer = ptr(cpuSeconds(in.Monitor, holdFrom, holdTo) * 1e6 / answers)
	}
	if len(in.Broadcasts) == 0 {
		return
	}
	from, to := in.Broadcasts[0].SentUnix, math.NaN()
	for _, c := range in.Clients {
		if last := c.Last(); last != nil {
			for i := range c.Lines {
				if c.Lines[i].PushReceived == last.PushReceived {
					if math.IsNaN(to) || c.Lines[i].T > to {
						to = c.Lines[i].T
					}
					break
				}
			}
		}
	}
	if deliveries := clientsAt(in.Clients, to, push) - clientsAt(in.Clients, from, push); deliveries > 0 {
		s.ServerCPUUsPerDelivery = ptr(cpuSeconds(in.Monitor, from, to) * 1e6 / deliveries)
	}
}

// cpuSeconds integrates comet_cpu_percent over [from, to]: a row's figure covers the interval since the row before.
func cpuSeconds(rows []schema.MonitorRow, from, to float64) float64 {
	if math.IsNaN(from) || math.IsNaN(to) || to <= from {
		return math.NaN()
	}
	var sum float64
	for i := 1; i < len(rows); i++ {
		lo, hi := max(rows[i-1].T, from), min(rows[i].T, to)
		if hi > lo && !math.IsNaN(rows[i].CPUPercent) {
			sum += (hi - lo) * rows[i].CPUPercent / 100
		}
	}
	return sum
}
