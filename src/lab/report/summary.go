package report

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/comet-lab/comet-lab/src/lib/schema"
)

// Summary is summary.json. Pointer fields are null when the run did not produce
// the data (docs/results.md defines each field).
type Summary struct {
	RunID                string   `json:"run_id"`
	StartedUTC           string   `json:"started_utc,omitempty"`
	Inventory            string   `json:"inventory"`
	ServerVirtualization string   `json:"server_virtualization,omitempty"`
	Command              string   `json:"command,omitempty"`
	Engine               string   `json:"engine"`
	Procs                *float64 `json:"procs"`
	Clients              int      `json:"clients"`
	ConnsTarget          float64  `json:"conns_target"`
	ConnsPeakHeld        float64  `json:"conns_peak_held"`
	RequestsHeldAtPeak   *float64 `json:"requests_held_at_peak"`
	PeakUnix             *float64 `json:"peak_unix"`
	RampSeconds          *float64 `json:"ramp_seconds"`
	AcceptRampSeconds    *float64 `json:"accept_ramp_seconds"` // earliest client start to the last client's ramp_s
	// ClientStartUnix is when each client's flood began connecting (its lines' t − elapsed_s): the lab gives every
	// client one start moment (flood -start-at), and this shows how close they came to it.
	ClientStartUnix             map[string]float64 `json:"client_start_unix,omitempty"`
	ServerPSSBytes              *float64           `json:"server_pss_bytes"`
	ServerRSSBytes              *float64           `json:"server_rss_bytes"`
	ServerUserBytesPerConn      *float64           `json:"server_user_bytes_per_conn"`
	ServerUserSlopeBytesPerConn *float64           `json:"server_user_slope_bytes_per_conn"`
	ServerUserFixedBytes        *float64           `json:"server_user_fixed_bytes"`
	KernelSlabBytesPerSocket    *float64           `json:"kernel_slab_bytes_per_socket"`
	SocketsPerConn              float64            `json:"sockets_per_conn"`
	SockstatMemPages            *float64           `json:"sockstat_mem_pages"`
	CometCPUPercentHold         *float64           `json:"comet_cpu_percent_hold"`
	ConnectErrors               float64            `json:"connect_errors"`
	ConnectErrorsByKind         map[string]int     `json:"connect_errors_by_kind"`
	ServerErrors                *float64           `json:"server_errors"`
	PushRan                     bool               `json:"push_ran"`
	Broadcasts                  int                `json:"broadcasts"`
	BroadcastDelivered          *float64           `json:"broadcast_delivered"`
	BroadcastExpected           *float64           `json:"broadcast_expected"`
	BroadcastP50Ms              *float64           `json:"broadcast_p50_ms"`
	BroadcastP99Ms              *float64           `json:"broadcast_p99_ms"`
	BroadcastMaxMs              *float64           `json:"broadcast_max_ms"`
	BroadcastRows               []BroadcastRow     `json:"broadcast_rows,omitempty"`   // one per broadcast, in order
	PushGaps                    *float64           `json:"push_gaps"`                  // Σ clients' answers with X-Oldest-Seq
	PushMissed                  *float64           `json:"push_missed"`                // Σ seqs those answers skipped
	ServerPushDelivered         *float64           `json:"server_push_delivered"`      // comet's push.delivered at the end
	ServerCPUUsPerAnswer        *float64           `json:"server_cpu_us_per_answer"`   // comet CPU while holding ÷ hold answers then
	ServerCPUUsPerDelivery      *float64           `json:"server_cpu_us_per_delivery"` // comet CPU from the first publish to the last delivery ÷ deliveries
	Passed                      bool               `json:"passed"`
	FailureReasons              []string           `json:"failure_reasons"`
	ScaleOut                    *ScaleOut          `json:"scaleout,omitempty"` // runs with more than one comet server
	rampEndUnix, rampStartUnix  float64            // for charts; NaN when unknown
}

func ptr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// Summarize computes the summary of a loaded run.
func Summarize(in *Input) Summary {
	run := in.Run
	s := Summary{
		RunID:      run.RunID,
		StartedUTC: run.StartedUTC,
		Inventory:  run.Inventory,
		// systemd-detect-virt's word for the server host, recorded by the lab's Collect phase.
		ServerVirtualization: run.ServerMachine.Virtualization,
		Command:              run.Command,
		Engine:               run.Engine,
		Clients:              len(in.Clients),
		rampEndUnix:          math.NaN(), rampStartUnix: math.NaN(),
		FailureReasons: []string{},
	}
	fail := func(format string, a ...any) { s.FailureReasons = append(s.FailureReasons, fmt.Sprintf(format, a...)) }
	if s.RunID == "" {
		s.RunID = baseName(in.Dir)
	}
	if s.Engine == "" && in.Stats != nil {
		s.Engine = in.Stats.Engine
	}
	if run.Plan != nil {
		s.Procs = ptr(float64(run.Plan.Procs))
	} else if run.Params.Procs.Valid {
		s.Procs = ptr(run.Params.Procs.V)
	} else if in.Stats != nil && in.Stats.Procs > 0 {
		s.Procs = ptr(float64(in.Stats.Procs))
	}
	for _, m := range in.Missing {
		fail("missing %s", m)
	}

	// Target: run.json, else the plan, else the params, else what the clients were told.
	switch {
	case run.ConnsTarget.Valid:
		s.ConnsTarget = run.ConnsTarget.V
	case run.Plan != nil:
		s.ConnsTarget = float64(run.Plan.Conns)
	case run.Params.Conns.Valid:
		s.ConnsTarget = run.Params.Conns.V
	default:
		for _, c := range in.Clients {
			if len(c.Lines) > 0 {
				s.ConnsTarget += float64(c.Lines[0].ConnsTarget)
			}
		}
	}

	// Peak: the first monitor row holding the most connections.
	peak := -1
	for i, r := range in.Monitor {
		if !math.IsNaN(r.Conns) && (peak < 0 || r.Conns > in.Monitor[peak].Conns) {
			peak = i
		}
	}
	var pr schema.MonitorRow
	if peak >= 0 {
		pr = in.Monitor[peak]
		s.ConnsPeakHeld = pr.Conns
		s.RequestsHeldAtPeak = ptr(pr.Held)
		s.PeakUnix = ptr(pr.T)
		s.ServerPSSBytes = ptr(pr.PSS)
		s.ServerRSSBytes = ptr(pr.RSS)
		if pr.Conns > 0 {
			s.ServerUserBytesPerConn = ptr(pr.PSS / pr.Conns)
		}
		s.SockstatMemPages = ptr(pr.TCPMemPages)
	} else {
		fail("monitor.csv has no conns samples (admin unreachable?)")
	}

	// Ramp: from the first flood line to the moment the clients together held the target.
	rampStart, rampEnd := rampTimes(in.Clients, s.ConnsTarget)
	s.rampStartUnix, s.rampEndUnix = rampStart, rampEnd
	if !math.IsNaN(rampEnd) {
		s.RampSeconds = ptr(rampEnd - rampStart)
	} else if len(in.Clients) > 0 {
		fail("clients never held %.0f connections together", s.ConnsTarget)
	}

	// Marginal user memory: least squares of PSS on conns over the ramp samples.
	var xs, ys []float64
	for _, r := range rampRows(in.Monitor, rampStart, rampEnd, peak) {
		if !math.IsNaN(r.Conns) && !math.IsNaN(r.PSS) {
			xs, ys = append(xs, r.Conns), append(ys, r.PSS)
		}
	}
	if slope, icept, ok := leastSquares(xs, ys); ok {
		s.ServerUserSlopeBytesPerConn = ptr(slope)
		s.ServerUserFixedBytes = ptr(icept)
	}

	// Kernel memory per socket: both ends' sockets sit in this kernel when the
	// clients share the machine (local lab), so the Slab growth covers 2 per conn.
	s.SocketsPerConn = 1
	if run.Inventory == "local" {
		s.SocketsPerConn = 2
	}
	if first := firstValid(in.Monitor, func(r schema.MonitorRow) float64 { return r.SlabBytes }); peak >= 0 && !math.IsNaN(first) && pr.Conns > 0 {
		s.KernelSlabBytesPerSocket = ptr((pr.SlabBytes - first) / (s.SocketsPerConn * pr.Conns))
	}

	// CPU while holding: the mean over samples after the ramp (after the peak if the
	// ramp never completed, so failed runs still show a figure).
	holdFrom := rampEnd
	if math.IsNaN(holdFrom) && peak >= 0 {
		holdFrom = pr.T
	}
	var cpuSum float64
	var cpuN int
	for _, r := range in.Monitor {
		if r.T > holdFrom && !math.IsNaN(r.CPUPercent) {
			cpuSum += r.CPUPercent
			cpuN++
		}
	}
	if cpuN > 0 {
		s.CometCPUPercentHold = ptr(cpuSum / float64(cpuN))
	}

	// Errors.
	s.ConnectErrorsByKind = map[string]int{}
	allPassed := len(in.Clients) > 0
	for _, c := range in.Clients {
		last := c.Last()
		if last == nil {
			fail("%s: flood.jsonl is empty", c.Name)
			allPassed = false
			continue
		}
		for kind, n := range last.ConnectErrors {
			s.ConnectErrors += float64(n)
			s.ConnectErrorsByKind[kind] += int(n)
		}
		switch {
		case !last.Final:
			fail("%s: no final line (flood did not finish)", c.Name)
			allPassed = false
		case !last.Passed:
			msg := last.Message
			if msg == "" {
				msg = "passed=false"
			}
			fail("%s: %s", c.Name, msg)
			allPassed = false
		}
	}
	if s.ConnectErrors > 0 {
		fail("%.0f connect errors", s.ConnectErrors)
	}
	if in.Stats != nil {
		var n float64
		for kind, v := range in.Stats.Errors {
			if !strings.Contains(kind, "idle") {
				n += float64(v)
			}
		}
		s.ServerErrors = ptr(n)
		if n > 0 {
			fail("%.0f server errors", n)
		}
	}
	if s.ConnsPeakHeld < s.ConnsTarget {
		fail("server held at most %.0f of %.0f connections", s.ConnsPeakHeld, s.ConnsTarget)
	}

	s.clientStarts(in)
	s.pushSummary(in, fail)
	s.scaleOut(in, fail)
	s.perEventCPU(in, holdFrom)
	s.Passed = allPassed && len(s.FailureReasons) == 0
	return s
}

func finite(v float64) float64 {
	if math.IsInf(v, 0) {
		return math.NaN()
	}
	return v
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// rampTimes merges the clients' lines in time order and returns the first line's
// time and the first time the sum of their latest "established" reached target
// (NaN if never).
func rampTimes(clients []Client, target float64) (start, end float64) {
	type ev struct {
		t           float64
		client      int
		established float64
	}
	var evs []ev
	for i, c := range clients {
		for _, l := range c.Lines {
			evs = append(evs, ev{l.T, i, float64(l.Established)})
		}
	}
	if len(evs) == 0 {
		return math.NaN(), math.NaN()
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return cmpFloat(a.t, b.t) })
	latest := make([]float64, len(clients))
	var sum float64
	for _, e := range evs {
		sum += e.established - latest[e.client]
		latest[e.client] = e.established
		if target > 0 && sum >= target {
			return evs[0].t, e.t
		}
	}
	return evs[0].t, math.NaN()
}

// rampRows returns the monitor samples within [start, end]; when the ramp is
// unknown or the clocks do not overlap (fewer than 2 samples), the samples up to
// the peak stand in.
func rampRows(rows []schema.MonitorRow, start, end float64, peak int) []schema.MonitorRow {
	var out []schema.MonitorRow
	if !math.IsNaN(start) && !math.IsNaN(end) {
		for _, r := range rows {
			if r.T >= start && r.T <= end {
				out = append(out, r)
			}
		}
	}
	if len(out) < 2 && peak >= 0 {
		out = rows[:peak+1]
	}
	return out
}

// leastSquares fits y = slope*x + intercept; it needs two distinct x values.
func leastSquares(xs, ys []float64) (slope, intercept float64, ok bool) {
	n := float64(len(xs))
	if n < 2 {
		return 0, 0, false
	}
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/n, sy/n
	var sxx, sxy float64
	for i := range xs {
		dx := xs[i] - mx
		sxx += dx * dx
		sxy += dx * (ys[i] - my)
	}
	if sxx == 0 {
		return 0, 0, false
	}
	slope = sxy / sxx
	return slope, my - slope*mx, true
}

func firstValid(rows []schema.MonitorRow, get func(schema.MonitorRow) float64) float64 {
	for _, r := range rows {
		if v := get(r); !math.IsNaN(v) {
			return v
		}
	}
	return math.NaN()
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func baseName(dir string) string {
	dir = strings.TrimRight(dir, "/")
	if i := strings.LastIndexByte(dir, '/'); i >= 0 {
		return dir[i+1:]
	}
	return dir
}
