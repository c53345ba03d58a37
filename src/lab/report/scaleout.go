package report

// Scale-out runs (make lab SERVERS=2 BROKER=nats): further comet servers beside the server, in server2/ … of the
// run folder. Their monitor rows and counters are added to the server's, so "held", Σ PSS and errors are the
// whole lab's; the broadcasts (published on the server) are split by where each client's subscribers were held:
// same-node (the server) or cross-node (reached through the broker).

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/comet-lab/comet-lab/src/lib/schema"
)

// Peer is one further server's files.
type Peer struct {
	Name     string
	Monitor  []schema.MonitorRow
	Stats    *schema.Stats
	StatsEnd *schema.Stats
}

// ScaleOut is the scale-out section of summary.json.
type ScaleOut struct {
	Servers    int           `json:"servers"`
	Broker     string        `json:"broker,omitempty"`
	PushServer string        `json:"push_server"` // the server the broadcasts were published on
	SameNode   DeliveryGroup `json:"same_node"`
	CrossNode  DeliveryGroup `json:"cross_node"`
	// CrossMinusSameP99Ms is cross-node p99 − same-node p99 (the target: within 50 ms).
	CrossMinusSameP99Ms *float64 `json:"cross_minus_same_p99_ms"`
}

// DeliveryGroup is the broadcasts' delivery to the clients of one side.
type DeliveryGroup struct {
	Clients   []string `json:"clients"`
	Conns     float64  `json:"conns"` // the clients' conns_target
	Delivered float64  `json:"delivered"`
	Expected  float64  `json:"expected"` // broadcasts × conns
	P50Ms     *float64 `json:"p50_ms"`
	P99Ms     *float64 `json:"p99_ms"`
	MaxMs     *float64 `json:"max_ms"`
}

// loadPeers reads server2/ … and adds their monitor rows and counters to the server's.
func (in *Input) loadPeers() error {
	dirs, _ := filepath.Glob(filepath.Join(in.Dir, "server[0-9]*"))
	slices.SortFunc(dirs, naturalCompare)
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			continue
		}
		p := Peer{Name: filepath.Base(d)}
		var err error
		// A peer without monitor.csv (its labmon failed) still gets a report, failed for the missing file; the
		// server's rows then stand alone.
		switch p.Monitor, err = readMonitor(filepath.Join(d, "monitor.csv")); {
		case errors.Is(err, ErrMissing):
			in.Missing = append(in.Missing, p.Name+"/monitor.csv")
		case err != nil:
			return err
		}
		for name, dst := range map[string]**schema.Stats{"stats.json": &p.Stats, "stats_end.json": &p.StatsEnd} {
			var st schema.Stats
			switch err := readJSON(filepath.Join(d, name), &st); {
			case err == nil:
				*dst = &st
			case errors.Is(err, ErrMissing):
				if name == "stats.json" {
					in.Missing = append(in.Missing, p.Name+"/stats.json")
				}
			default:
				return err
			}
		}
		in.Peers = append(in.Peers, p)
		if p.Monitor != nil {
			in.Monitor = addMonitor(in.Monitor, p.Monitor)
		}
		in.Stats = addStats(in.Stats, p.Stats)
		in.StatsEnd = addStats(in.StatsEnd, p.StatsEnd)
	}
	return nil
}

// addMonitor adds to each row the comet figures of the peer's row nearest in time (within 1.5 s; labmon samples
// each server every second on the same clock). Without one, the row's comet figures become unknown (NaN): a sum
// that misses a server would understate the lab. Host-wide figures (Slab, MemAvailable) are not added.
func addMonitor(rows, peer []schema.MonitorRow) []schema.MonitorRow {
	out := make([]schema.MonitorRow, len(rows))
	for i, r := range rows {
		j := sort.Search(len(peer), func(k int) bool { return peer[k].T >= r.T })
		best := -1
		for _, k := range []int{j - 1, j} {
			if k >= 0 && k < len(peer) && math.Abs(peer[k].T-r.T) <= 1.5 && (best < 0 || math.Abs(peer[k].T-r.T) < math.Abs(peer[best].T-r.T)) {
				best = k
			}
		}
		for _, f := range []func(*schema.MonitorRow) *float64{
			func(m *schema.MonitorRow) *float64 { return &m.Conns }, func(m *schema.MonitorRow) *float64 { return &m.Held },
			func(m *schema.MonitorRow) *float64 { return &m.PSS }, func(m *schema.MonitorRow) *float64 { return &m.RSS },
			func(m *schema.MonitorRow) *float64 { return &m.CPUPercent }, func(m *schema.MonitorRow) *float64 { return &m.TCPInuse },
			func(m *schema.MonitorRow) *float64 { return &m.TCPMemPages },
		} {
			if best < 0 {
				*f(&r) = math.NaN()
			} else {
				*f(&r) += *f(&peer[best])
			}
		}
		out[i] = r
	}
	return out
}

// addStats adds a peer's error and push counters to the server's /stats (a copy; nil stays nil).
func addStats(base, peer *schema.Stats) *schema.Stats {
	if base == nil || peer == nil {
		return base
	}
	sum := *base
	sum.Errors = map[string]uint64{}
	for _, m := range []map[string]uint64{base.Errors, peer.Errors} {
		for k, v := range m {
			sum.Errors[k] += v
		}
	}
	sum.Conns += peer.Conns
	sum.Held += peer.Held
	sum.PSSBytes += peer.PSSBytes
	sum.RSSBytes += peer.RSSBytes
	sum.Push.Delivered += peer.Push.Delivered
	sum.Push.Gaps += peer.Push.Gaps
	sum.Push.Missed += peer.Push.Missed
	return &sum
}

// scaleOut splits the broadcasts' deliveries by the server each client held its subscribers on.
func (s *Summary) scaleOut(in *Input, fail func(string, ...any)) {
	if len(in.Peers) == 0 {
		return
	}
	so := &ScaleOut{Servers: 1 + len(in.Peers), Broker: in.Run.Params.Broker, PushServer: "server"}
	push := in.Run.ServerAddr()
	same, cross := map[float64]float64{}, map[float64]float64{}
	for _, c := range in.Clients {
		last := c.Last()
		if last == nil || len(c.Lines) == 0 {
			continue
		}
		g, hist := &so.CrossNode, cross
		if push != "" && hostOf(c.Lines[0].Target) == push {
			g, hist = &so.SameNode, same
		}
		g.Clients = append(g.Clients, c.Name)
		g.Conns += float64(last.ConnsTarget)
		for k, n := range last.PushHistMs {
			hist[float64(k)] += float64(n)
			g.Delivered += float64(n)
		}
		if m := last.PushMaxMs; m > 0 && (g.MaxMs == nil || m > *g.MaxMs) {
			g.MaxMs = ptr(m)
		}
	}
	if push == "" {
		fail("run.json names no server address: same-node and cross-node clients cannot be told apart")
	}
	for _, gh := range []struct {
		g    *DeliveryGroup
		hist map[float64]float64
		name string
	}{{&so.SameNode, same, "same-node"}, {&so.CrossNode, cross, "cross-node"}} {
		gh.g.Expected = float64(s.Broadcasts) * gh.g.Conns
		p50, p99, _ := histQuantiles(gh.hist)
		gh.g.P50Ms, gh.g.P99Ms = ptr(p50), ptr(p99)
		if s.PushRan && gh.g.Delivered < gh.g.Expected {
			fail("%s clients got %.0f of %.0f broadcast deliveries", gh.name, gh.g.Delivered, gh.g.Expected)
		}
	}
	if so.SameNode.P99Ms != nil && so.CrossNode.P99Ms != nil {
		so.CrossMinusSameP99Ms = ptr(*so.CrossNode.P99Ms - *so.SameNode.P99Ms)
	}
	s.ScaleOut = so
}

// hostOf is the host of a host:port.
func hostOf(target string) string {
	for i := len(target) - 1; i >= 0; i-- {
		if target[i] == ':' {
			return target[:i]
		}
	}
	return target
}

// scaleOutMarkdown is report.md's scale-out section.
func scaleOutMarkdown(s Summary) string {
	so := s.ScaleOut
	if so == nil {
		return ""
	}
	out := fmt.Sprintf("## Scale-out: %d servers, broker %s\n\n", so.Servers, orDash(so.Broker))
	out += fmt.Sprintf("Broadcasts published on %s; clients held on it are same-node, the others got them through the broker "+
		"(every server delivers from the stream, the publishing one too). Held, Σ PSS, CPU and errors above are the %d "+
		"servers' together; each ran %s comet workers (the plan's count for all of CONNS), so the fixed per-process "+
		"memory is there %d times.\n\n", so.PushServer, so.Servers, optInt(s.Procs), so.Servers)
	out += "| | clients | conns | delivered | expected | p50 | p99 | max |\n|---|---|---:|---:|---:|---:|---:|---:|\n"
	for _, g := range []struct {
		name string
		g    DeliveryGroup
	}{{"same-node", so.SameNode}, {"cross-node", so.CrossNode}} {
		out += fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", g.name, orDash(joinNames(g.g.Clients)), thousands(g.g.Conns),
			thousands(g.g.Delivered), thousands(g.g.Expected), optFloat(g.g.P50Ms, -1, " ms"), optFloat(g.g.P99Ms, -1, " ms"),
			optFloat(g.g.MaxMs, -1, " ms"))
	}
	if d := so.CrossMinusSameP99Ms; d != nil {
		verdict := "within"
		if *d > 50 {
			verdict = "not within"
		}
		out += fmt.Sprintf("\nCross-node p99 − same-node p99 = %s: %s the target of 50 ms.\n", optFloat(d, -1, " ms"), verdict)
	}
	return out + "\n"
}

func joinNames(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}
