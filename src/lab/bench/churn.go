package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// ChurnCycle is what one connect/disconnect cycle leaves behind in comet once it is quiet again.
type ChurnCycle struct {
	Cycle       int     `json:"cycle"`
	Conns       int     `json:"conns"`
	RampSeconds float64 `json:"ramp_s"`
	DownSeconds float64 `json:"down_s"`
	FDs         int     `json:"fds"`        // open descriptors over comet's processes
	Threads     int     `json:"threads"`    // OS threads over comet's processes
	Goroutines  uint64  `json:"goroutines"` // Σ over comet's workers (/stats)
	PSS         uint64  `json:"comet_pss_bytes"`
}

// ChurnVerdict is the promise bench churn checks: memory and descriptors come back.
type ChurnVerdict struct {
	PSSGrowthPct float64 `json:"pss_growth_pct"` // last cycle vs first, in %
	PSSWithin    bool    `json:"pss_within"`     // |growth| <= MaxPSSGrowthPct
	// LatePSSGrowthPct is the growth over the second half of the cycles (informational): near 0 with a failed
	// verdict means warm-up that levelled off, a steady rise means a leak.
	LatePSSGrowthPct float64 `json:"late_pss_growth_pct"`
	LeakedFDs        int     `json:"leaked_fds"` // last cycle's fds - first cycle's fds
}

// MaxPSSGrowthPct is how far comet's Σ PSS may move from cycle 1 to the last cycle.
const MaxPSSGrowthPct = 5.0

// Quiet is the pause after the last connection closed before a cycle is measured: longer than a worker's
// FreeQuiet (2 s) plus one tick, so its after-churn collection has returned freed pages by then.
const Quiet = 5 * time.Second

// Judge compares the last cycle with the first.
func Judge(cycles []ChurnCycle) ChurnVerdict {
	if len(cycles) == 0 {
		return ChurnVerdict{}
	}
	first, mid, last := cycles[0], cycles[(len(cycles)-1)/2], cycles[len(cycles)-1]
	growth := func(from, to ChurnCycle) float64 {
		if from.PSS == 0 {
			return 0
		}
		return (float64(to.PSS) - float64(from.PSS)) / float64(from.PSS) * 100
	}
	return ChurnVerdict{
		PSSGrowthPct:     growth(first, last),
		LatePSSGrowthPct: growth(mid, last),
		PSSWithin:        math.Abs(growth(first, last)) <= MaxPSSGrowthPct,
		LeakedFDs:        last.FDs - first.FDs,
	}
}

// Broken reports whether the promise failed.
func (v ChurnVerdict) Broken() bool { return !v.PSSWithin || v.LeakedFDs > 0 }

// Churn runs cycles rounds of: flood opens o.Conns connections, waits for all, stops; comet must drop to 0
// connections; measured after Quiet. onCycle sees each cycle as it completes.
func Churn(ctx context.Context, o Options, cycles int, onCycle func(ChurnCycle)) ([]ChurnCycle, error) {
	if cycles < 1 {
		return nil, fmt.Errorf("-cycles %d: want >= 1", cycles)
	}
	dir, cleanup, err := o.prepare()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	c, err := startComet(&o, dir)
	if err != nil {
		return nil, err
	}
	var out []ChurnCycle
	for i := 1; i <= cycles && err == nil; i++ {
		var cy ChurnCycle
		cy, err = churnCycle(ctx, &o, c, dir, i)
		if err == nil {
			out = append(out, cy)
			if onCycle != nil {
				onCycle(cy)
			}
		}
	}
	if stopErr := c.stop(15 * time.Second); err == nil && stopErr != nil {
		err = fmt.Errorf("stopping comet: %w", stopErr)
	}
	return out, err
}

func churnCycle(ctx context.Context, o *Options, c *comet, dir string, i int) (ChurnCycle, error) {
	cy := ChurnCycle{Cycle: i, Conns: o.Conns}
	flood, err := startFlood(o, c, dir, "-"+strconv.Itoa(i))
	if err != nil {
		return cy, err
	}
	ramp, err := c.waitConns(ctx, o, uint64(o.Conns), flood, fmt.Sprintf("cycle %d up", i))
	stopErr := flood.stop(30 * time.Second)
	if err != nil {
		return cy, err
	}
	if errors.Is(stopErr, errKilled) { // flood's own exit status on SIGTERM is not bench's concern
		return cy, fmt.Errorf("cycle %d: %w", i, stopErr)
	}
	cy.RampSeconds = ramp.Seconds()
	down, err := c.waitConns(ctx, o, 0, nil, fmt.Sprintf("cycle %d down", i))
	if err != nil {
		return cy, err
	}
	cy.DownSeconds = down.Seconds()
	time.Sleep(Quiet)
	// bench's own keep-alive connections to the admin port are fds of the master: close them before counting.
	c.client.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	pids, err := c.pids()
	if err != nil {
		return cy, err
	}
	for _, pid := range pids {
		fds, err := fdCount("/proc", pid)
		if err != nil {
			return cy, fmt.Errorf("fds of comet pid %d: %w", pid, err)
		}
		threads, err := threadCount("/proc", pid)
		if err != nil {
			return cy, err
		}
		cy.FDs += fds
		cy.Threads += threads
	}
	st, err := c.stats()
	if err != nil {
		return cy, err
	}
	cy.PSS = st.PSSBytes
	cy.Goroutines = st.Goroutines
	return cy, nil
}

// PrintChurnHeader and PrintChurnCycle write the per-cycle table lines.
func PrintChurnHeader(w io.Writer) {
	fmt.Fprintf(w, "%5s %8s %7s %7s %6s %8s %10s %12s\n", "cycle", "conns", "up s", "down s", "fds", "threads", "goroutines", "comet PSS")
}

func PrintChurnCycle(w io.Writer, c ChurnCycle) {
	fmt.Fprintf(w, "%5d %8d %7.1f %7.1f %6d %8d %10d %12s\n", c.Cycle, c.Conns, c.RampSeconds, c.DownSeconds, c.FDs, c.Threads, c.Goroutines, human(c.PSS))
}

// PrintVerdict writes the two promise lines.
func PrintVerdict(w io.Writer, v ChurnVerdict) {
	yes := "no"
	if v.PSSWithin {
		yes = "yes"
	}
	fmt.Fprintf(w, "PSS within %.0f %% of cycle 1: %s (%+.1f %%; second half of the cycles: %+.1f %%)\n",
		MaxPSSGrowthPct, yes, v.PSSGrowthPct, v.LatePSSGrowthPct)
	fmt.Fprintf(w, "leaked fds: %d\n", v.LeakedFDs)
}
