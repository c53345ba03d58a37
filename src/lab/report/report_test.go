package report

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comet-lab/comet-lab/src/lib/schema"
)

const (
	netpollRun   = "2026-01-01T000000Z-netpoll"
	goroutineRun = "2026-01-02T000000Z-goroutine"
)

// copyResults copies testdata/results into a temp dir so outputs never land in testdata.
func copyResults(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk("testdata/results", func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/results", path)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

func checkNum(t *testing.T, name string, got *float64, want float64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = null, want %v", name, want)
	} else if !near(*got, want) {
		t.Errorf("%s = %v, want %v", name, *got, want)
	}
}

// The expected values are derived from how testdata was built (see the comments),
// not copied from output.
func TestSummarizeNetpoll(t *testing.T) {
	in, err := Load(filepath.Join("testdata/results", netpollRun))
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize(in)
	// monitor.csv row i (t0+i): conns 300*i up to 3000 at i=10, PSS 10 MiB + 2000 B*conns,
	// Slab 200e6 + 2 sockets*1000 B*conns, tcp_mem_pages conns/10.
	if s.ConnsTarget != 3000 || s.ConnsPeakHeld != 3000 || s.Clients != 3 {
		t.Errorf("target %v peak %v clients %d", s.ConnsTarget, s.ConnsPeakHeld, s.Clients)
	}
	checkNum(t, "requests_held_at_peak", s.RequestsHeldAtPeak, 3000-10) // held = conns - i
	checkNum(t, "peak_unix", s.PeakUnix, 1767225600+10)
	pssPeak := 10485760.0 + 2000*3000
	checkNum(t, "server_pss_bytes", s.ServerPSSBytes, pssPeak)
	checkNum(t, "server_user_bytes_per_conn", s.ServerUserBytesPerConn, pssPeak/3000)
	checkNum(t, "server_user_slope_bytes_per_conn", s.ServerUserSlopeBytesPerConn, 2000)
	checkNum(t, "server_user_fixed_bytes", s.ServerUserFixedBytes, 10485760)
	// Clients reach 1000 each at t0+10.0, t0+10.2, t0+9.4; the first line is at t0.
	checkNum(t, "ramp_seconds", s.RampSeconds, 10.2)
	// Local inventory: 2 sockets per connection in the one kernel.
	checkNum(t, "kernel_slab_bytes_per_socket", s.KernelSlabBytesPerSocket, (2*3000*1000.0)/(2*3000))
	checkNum(t, "sockstat_mem_pages", s.SockstatMemPages, 300)
	// Samples after t0+10.2 are i=11..19 with CPU 10,12,10,12,10,12,10,12,10.
	checkNum(t, "comet_cpu_percent_hold", s.CometCPUPercentHold, (5*10.0+4*12)/9)
	if s.ConnectErrors != 0 {
		t.Errorf("connect_errors %v", s.ConnectErrors)
	}
	checkNum(t, "server_errors", s.ServerErrors, 0) // idle_timeouts 3 are not errors
	// Two broadcasts, each owed to the 3000 connections held then (the 14.9 s sample
	// nearest in time lacks conns, so its neighbour at 14 s counts).
	if !s.PushRan || s.Broadcasts != 2 {
		t.Errorf("push_ran %v broadcasts %d", s.PushRan, s.Broadcasts)
	}
	checkNum(t, "broadcast_expected", s.BroadcastExpected, 2*3000)
	checkNum(t, "broadcast_delivered", s.BroadcastDelivered, 2000+2000+2000)
	// Merged buckets: 1ms:1500 2:3890 5:400 10:100 50:100 100:10. Rank 3000 falls in 2 ms,
	// rank ceil(0.99*6000)=5940 in 50 ms; max is the largest client push_max_ms.
	checkNum(t, "broadcast_p50_ms", s.BroadcastP50Ms, 2)
	checkNum(t, "broadcast_p99_ms", s.BroadcastP99Ms, 50)
	checkNum(t, "broadcast_max_ms", s.BroadcastMaxMs, 87.5)
	checkNum(t, "push_gaps", s.PushGaps, 0)
	checkNum(t, "push_missed", s.PushMissed, 0)
	// Per event. Clients' lines at t0+i (+0, +0.2, +0.4): responses 100 at i=11, 200 at i=12, then 2200 with
	// push_received 2000 at i=13. Hold window [ramp end 10.2, first broadcast 12.1]: non-push answers
	// interpolated 200-20 + 190-0 + 170-0 = 540; CPU rows (10,11] 10% ×0.8 + (11,12] 12% ×1 + (12,13] 10% ×0.1
	// = 0.21 s.
	checkNum(t, "server_cpu_us_per_answer", s.ServerCPUUsPerAnswer, 0.21e6/540)
	// Push window [12.1, 13.4 (the last client reaching its final push_received)]: deliveries 6000 - 200 (client1
	// interpolated at 12.1); CPU (12,13] 10% ×0.9 + (13,14] 12% ×0.4 = 0.138 s.
	checkNum(t, "server_cpu_us_per_delivery", s.ServerCPUUsPerDelivery, 0.138e6/5800)
	if !s.Passed || len(s.FailureReasons) != 0 {
		t.Errorf("passed %v reasons %q", s.Passed, s.FailureReasons)
	}
}

// TestBroadcastExpected: a broadcast is owed to the connections held when it was sent. Under a push labmon's
// /stats reads can time out (empty conns), and the five-broadcast 1M run then took the nearest row with conns,
// one of the drain at the end: 4,664,014 expected instead of 5,000,000.
func TestBroadcastExpected(t *testing.T) {
	row := func(t, conns float64) schema.MonitorRow {
		return schema.MonitorRow{T: t, Conns: conns, CPUPercent: math.NaN()}
	}
	nan := math.NaN()
	tests := []struct {
		name string
		rows []schema.MonitorRow
		sent []float64
		want float64
	}{
		{"rows at the broadcasts", []schema.MonitorRow{row(0, 1000), row(10, 1000), row(20, 1000)}, []float64{10, 20}, 2000},
		{"admin silent during the push, drain rows after",
			[]schema.MonitorRow{row(60, 1000), row(70, 1000), row(100, nan), row(190, nan), row(292, 600), row(297, 200)},
			[]float64{72, 102, 132, 162, 192}, 5000},
		{"broadcast before the first row with conns", []schema.MonitorRow{row(0, nan), row(5, 800)}, []float64{1}, 800},
		// broadcast.py's count at the POST wins over a monitor row sampled before the ramp's last conns.
		{"conns at send recorded", []schema.MonitorRow{row(0, 996), row(10, 1000)}, []float64{1, 11}, 2000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &Input{Run: Run{RunID: "x"}, Monitor: tc.rows, HaveBcast: true}
			for _, at := range tc.sent {
				b := Broadcast{SentUnix: at}
				if strings.HasPrefix(tc.name, "conns at send") {
					b.ConnsAtSend = 1000
				}
				in.Broadcasts = append(in.Broadcasts, b)
			}
			s := Summarize(in)
			checkNum(t, "broadcast_expected", s.BroadcastExpected, tc.want)
		})
	}
}

// Each broadcast's row sums its seq over the clients and takes the latest delivery among them; a client line
// without per-seq latencies (older flood) leaves "latest" unknown rather than zero.
func TestBroadcastRows(t *testing.T) {
	final := func(perSeq, maxMs map[uint64]uint64) Client {
		return Client{Lines: []schema.FloodFinal{{Final: true, PushPerSeq: perSeq, PushMaxMsPerSeq: maxMs}}}
	}
	in := &Input{Run: Run{RunID: "x"}, HaveBcast: true,
		Broadcasts: []Broadcast{{Seq: 7, SentUnix: 100, ConnsAtSend: 30, AnswerS: 2.5, Answered: 30},
			{Seq: 8, SentUnix: 130, ConnsAtSend: 30, AnswerS: 1, Answered: 4}},
		Clients: []Client{final(map[uint64]uint64{7: 10, 8: 10}, map[uint64]uint64{7: 900, 8: 15000}),
			final(map[uint64]uint64{7: 20, 8: 19}, map[uint64]uint64{7: 1200, 8: 300})}}
	got := Summarize(in).BroadcastRows
	want := []BroadcastRow{
		{Seq: 7, SentOffsetS: 0, Owed: 30, Delivered: 30, LatestMs: ptr(1200), CometWriteS: 2.5, HeldAnswered: 30},
		{Seq: 8, SentOffsetS: 30, Owed: 30, Delivered: 29, LatestMs: ptr(15000), CometWriteS: 1, HeldAnswered: 4},
	}
	if len(got) != len(want) {
		t.Fatalf("rows %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.LatestMs == nil || *g.LatestMs != *w.LatestMs {
			t.Errorf("row %d latest %v, want %v", i, g.LatestMs, *w.LatestMs)
		}
		g.LatestMs, w.LatestMs = nil, nil
		if g != w {
			t.Errorf("row %d %+v, want %+v", i, g, w)
		}
	}
	// Scale-out: the publishing server counted 30 at the POST; the peer's 12 held then are owed it too.
	in.Peers = []Peer{{Monitor: []schema.MonitorRow{{T: 90, Conns: 12}, {T: 125, Conns: 12}}}}
	if rows := Summarize(in).BroadcastRows; rows[0].Owed != 42 || rows[1].Owed != 42 {
		t.Errorf("scale-out owed %v and %v, want 42 (30 + the peer's 12)", rows[0].Owed, rows[1].Owed)
	}
	in.Peers = nil
	in.Clients = []Client{final(map[uint64]uint64{7: 30}, nil)}
	if rows := Summarize(in).BroadcastRows; rows[0].LatestMs != nil || rows[0].Delivered != 30 || rows[1].Delivered != 0 {
		t.Errorf("without per-seq latencies: %+v", rows)
	}
}

func TestSummarizeFailedGoroutine(t *testing.T) {
	in, err := Load(filepath.Join("testdata/results", goroutineRun))
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Monitor) != 6 {
		t.Errorf("%d monitor rows, want 6 (the cut-off last line must be dropped)", len(in.Monitor))
	}
	if in.Clients[1].BadLines != 1 {
		t.Errorf("client2 bad lines %d, want 1", in.Clients[1].BadLines)
	}
	s := Summarize(in)
	// conns 0,1000,2000,2500,2500,2500; PSS 20e6 + 8000 B*conns; Slab 300e6 + 3000 B*conns.
	if s.ConnsTarget != 3000 || s.ConnsPeakHeld != 2500 {
		t.Errorf("target %v peak %v", s.ConnsTarget, s.ConnsPeakHeld)
	}
	checkNum(t, "server_user_bytes_per_conn", s.ServerUserBytesPerConn, (20e6+8000*2500)/2500)
	// The ramp never completed, so the slope uses the samples up to the peak.
	checkNum(t, "server_user_slope_bytes_per_conn", s.ServerUserSlopeBytesPerConn, 8000)
	if s.RampSeconds != nil {
		t.Errorf("ramp_seconds %v, want null", *s.RampSeconds)
	}
	// vagrant inventory: the clients' sockets live in other kernels.
	checkNum(t, "kernel_slab_bytes_per_socket", s.KernelSlabBytesPerSocket, 3000)
	checkNum(t, "comet_cpu_percent_hold", s.CometCPUPercentHold, 80)
	if s.ConnectErrors != 3+2 || s.ConnectErrorsByKind["ECONNREFUSED"] != 3 || s.ConnectErrorsByKind["ETIMEDOUT"] != 2 {
		t.Errorf("connect errors %v %v", s.ConnectErrors, s.ConnectErrorsByKind)
	}
	checkNum(t, "server_errors", s.ServerErrors, 4)
	if s.PushRan {
		t.Error("push did not run")
	}
	if s.Passed {
		t.Error("run must fail")
	}
	for _, want := range []string{"client2: no final line", "client1: held 1250 of 1500", "5 connect errors",
		"4 server errors", "held at most 2500 of 3000", "never held 3000"} {
		if !strings.Contains(strings.Join(s.FailureReasons, "\n"), want) {
			t.Errorf("failure reasons %q lack %q", s.FailureReasons, want)
		}
	}
}

func TestGenerateWritesReportAndCharts(t *testing.T) {
	results := copyResults(t)
	dir := filepath.Join(results, netpollRun)
	if _, err := Generate(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ChartConnections, ChartMemory, ChartBytesPerConn, ChartCPU, ChartHolds, ChartPushLatency} {
		for _, ext := range []string{".png", ".svg"} {
			st, err := os.Stat(filepath.Join(dir, "charts", name+ext))
			if err != nil || st.Size() == 0 {
				t.Errorf("%s%s: %v", name, ext, err)
			}
		}
		f, err := os.Open(filepath.Join(dir, "charts", name+".png"))
		if err != nil {
			continue
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() < 500 {
			t.Errorf("%s.png does not decode to a chart: %v", name, err)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| connections held | 3,000 of 3,000 target", "1,017,147", "1,282 B/conn", "404,824 pages",
		"| pass/fail | **PASSED**", "| net.core.somaxconn | 65535 |", "| net.netfilter.nf_conntrack_max | module not loaded",
		"![connections](charts/connections.png)", "| veth-s0 | 1,200 | 1,100 |", "| eth1 | 789 | 987 |",
		"| params.hold_max_s | 90 |",
	} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "summary.json")); err != nil {
		t.Error(err)
	}
}

func TestIndexTwoEngines(t *testing.T) {
	results := copyResults(t)
	// The netpoll run has a summary.json; the goroutine one is summarised from raw files.
	if _, err := Generate(filepath.Join(results, netpollRun)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(results, "not-a-run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteIndex(results); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(results, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(md)
	gi := strings.Index(text, "| 2026-01-02T00:00:00Z | vagrant | goroutine | 3,000 | 2,500 | 16,000 | — | no | — |")
	ni := strings.Index(text, "| 2026-01-01T00:00:00Z | local | netpoll | 3,000 | 3,000 | 5,495 | 10.2 s | yes | [2026-01-01T000000Z-netpoll](2026-01-01T000000Z-netpoll/report.md) | `make lab CONNS=3000 DURATION=20s` |")
	if gi < 0 || ni < 0 || gi > ni {
		t.Errorf("index rows missing or not newest first:\n%s", text)
	}
	if strings.Contains(text, "not-a-run") {
		t.Error("a folder without run.json must not be listed")
	}
	ratio := 16000 / ((10485760.0 + 2000*3000) / 3000)
	want := fmt.Sprintf("uses %.2f× the user memory", ratio)
	if !strings.Contains(text, want) || !strings.Contains(text, "## Engines side by side") {
		t.Errorf("index lacks the ratio line %q:\n%s", want, text)
	}
}

func TestMissingInputs(t *testing.T) {
	results := copyResults(t)
	dir := filepath.Join(results, netpollRun)
	tests := []struct {
		name   string
		remove string
		want   string
	}{
		{"no folder", "", "run folder"},
		{"no run.json", "run.json", "run.json"},
		{"no monitor.csv", "server/monitor.csv", "monitor.csv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(results, "absent")
			if tc.remove != "" {
				target = filepath.Join(t.TempDir(), "run")
				copyDir(t, dir, target)
				if err := os.Remove(filepath.Join(target, tc.remove)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Generate(target)
			if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrMissing naming %q", err, tc.want)
			}
		})
	}
}

// A failed lab leaves only some files: the report is still written, marked failed.
func TestPartialRunStillReports(t *testing.T) {
	results := copyResults(t)
	dir := filepath.Join(t.TempDir(), "partial")
	copyDir(t, filepath.Join(results, netpollRun), dir)
	// A scale-out peer whose labmon never wrote monitor.csv.
	if err := os.MkdirAll(filepath.Join(dir, "server2"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"server/stats.json", "client3/flood.jsonl"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Passed || s.ServerErrors != nil {
		t.Errorf("passed %v server_errors %v", s.Passed, s.ServerErrors)
	}
	reasons := strings.Join(s.FailureReasons, "\n")
	for _, want := range []string{"missing server/stats.json", "missing client3/flood.jsonl", "missing server2/monitor.csv", "missing server2/stats.json"} {
		if !strings.Contains(reasons, want) {
			t.Errorf("reasons %q lack %q", reasons, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "report.md")); err != nil {
		t.Error(err)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFlexibleJSON(t *testing.T) {
	tests := []struct {
		in    string
		v     float64
		valid bool
	}{
		{`12`, 12, true}, {`"12"`, 12, true}, {`"30s"`, 30, true}, {`null`, 0, false}, {`""`, 0, false},
	}
	for _, tc := range tests {
		var n Num
		if err := n.UnmarshalJSON([]byte(tc.in)); err != nil || n.V != tc.v || n.Valid != tc.valid {
			t.Errorf("%s: %+v %v", tc.in, n, err)
		}
	}
	var n Num
	if err := n.UnmarshalJSON([]byte(`"many"`)); err == nil {
		t.Error(`"many" must not parse`)
	}
}

func TestHistQuantiles(t *testing.T) {
	tests := []struct {
		name          string
		hist          map[float64]float64
		p50, p99, top float64
	}{
		{"single bucket", map[float64]float64{5: 10}, 5, 5, 5},
		{"median at boundary", map[float64]float64{1: 50, 2: 50}, 1, 2, 2},
		{"tail", map[float64]float64{1: 98, 10: 1, 100: 1}, 1, 10, 100},
		{"empty buckets ignored for max", map[float64]float64{1: 3, 1000: 0}, 1, 1, 1},
	}
	for _, tc := range tests {
		p50, p99, top := histQuantiles(tc.hist)
		if p50 != tc.p50 || p99 != tc.p99 || top != tc.top {
			t.Errorf("%s: %v %v %v, want %v %v %v", tc.name, p50, p99, top, tc.p50, tc.p99, tc.top)
		}
	}
}

func TestParseNIC(t *testing.T) {
	tests := []struct {
		name, in string
		want     []NICCounter
	}{
		{"csv header", "interface,rx_bytes,rx_packets,tx_packets\neth0,10,2,3\n", []NICCounter{{"eth0", 2, 3}}},
		{"plain lines", "# iface rx tx\neth1 5 6\neth2: 7 8\n", []NICCounter{{"eth1", 5, 6}, {"eth2", 7, 8}}},
		{"proc net dev", "  lo: 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n", []NICCounter{{"lo", 2, 4}}},
		{"unrecognised", "whatever\n", nil},
	}
	for _, tc := range tests {
		got := parseNIC("f", []byte(tc.in))
		if len(got.Rows) != len(tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got.Rows, tc.want)
			continue
		}
		for i := range got.Rows {
			if got.Rows[i] != tc.want[i] {
				t.Errorf("%s: %+v, want %+v", tc.name, got.Rows, tc.want)
			}
		}
		if tc.want == nil && got.Raw == "" {
			t.Errorf("%s: raw content lost", tc.name)
		}
	}
}

// Degenerate histograms (one bucket, a 0 ms bucket) must still chart without panicking.
func TestPushChartDegenerate(t *testing.T) {
	for _, hist := range []map[int]uint64{{5: 3}, {0: 2}, {0: 1, 1: 1}} {
		in := &Input{Clients: []Client{{Name: "client1", Lines: []schema.FloodFinal{{FloodLine: schema.FloodLine{}, Final: true, PushHistMs: hist}}}}}
		p, err := pushChart(in)
		if err != nil || p == nil {
			t.Fatalf("%v: %v %v", hist, p, err)
		}
		if err := p.Save(300, 200, filepath.Join(t.TempDir(), "p.png")); err != nil {
			t.Errorf("%v: %v", hist, err)
		}
	}
}

// A run.json with a "plan" (cmd/labplan's output) takes the process count from it and lists it under Parameters;
// one without keeps the params (TestSummarizeNetpoll).
func TestPlanFromRunJSON(t *testing.T) {
	tests := []struct {
		name      string
		plan      string // the "plan" value spliced into run.json, "" = none
		wantProcs float64
		wantRows  []string // lines report.md must hold
		noRows    []string // lines it must not
	}{
		{"no plan", "", 2, []string{"| params.procs | 2 |"}, []string{"| plan."}},
		{"empty plan", `{}`, 2, []string{"| params.procs | 2 |"}, []string{"| plan."}},
		{"labplan output", `{"conns":3000,"clients":2,"addrs_per_client":1,"nofile":2500,"fd_reserve":1000,` +
			`"max_conns_per_source":60000,"client_conns":[1500,1500],"conns_per_source":1500,"procs":3,"ehash_entries":8192}`,
			3, []string{"| params.procs | 2 |", "| plan.procs | 3 |", "| plan.client_conns | 1500 1500 |",
				"| plan.conns_per_source | 1500 |", "| plan.ehash_entries | 8192 |"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(copyResults(t), netpollRun)
			if tc.plan != "" {
				path := filepath.Join(dir, "run.json")
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				b = bytes.Replace(b, []byte(`"nofile": 1048576`), []byte(`"nofile": 1048576, "plan": `+tc.plan), 1)
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Generate(dir)
			if err != nil {
				t.Fatal(err)
			}
			checkNum(t, "procs", s.Procs, tc.wantProcs)
			md, err := os.ReadFile(filepath.Join(dir, "report.md"))
			if err != nil {
				t.Fatal(err)
			}
			for _, row := range tc.wantRows {
				if !bytes.Contains(md, []byte(row)) {
					t.Errorf("report.md lacks %q", row)
				}
			}
			for _, row := range tc.noRows {
				if bytes.Contains(md, []byte(row)) {
					t.Errorf("report.md has %q", row)
				}
			}
		})
	}
}

func TestVirtualizationNote(t *testing.T) {
	for _, tc := range []struct {
		virt string
		want string
	}{
		{"", ""},
		{"none", ""},
		{"qemu", " (server VM under QEMU software emulation, no KVM: CPU-bound figures are far slower than on hardware)"},
		{"kvm", " (server virtualised: kvm)"},
	} {
		if got := virtualizationNote(tc.virt); got != tc.want {
			t.Errorf("virtualizationNote(%q) = %q, want %q", tc.virt, got, tc.want)
		}
	}
}

func TestClientStartOffsets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		starts map[string]float64
		want   string
	}{
		{"none", nil, ""},
		{"one", map[string]float64{"client1": 100}, "client1 +0.00 s"},
		{"three, client order", map[string]float64{"client3": 100.5, "client1": 100.25, "client2": 100},
			"client1 +0.25 s, client2 +0.00 s, client3 +0.50 s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Summary{ClientStartUnix: tc.starts}
			if got := s.ClientStartOffsets(); got != tc.want {
				t.Errorf("ClientStartOffsets() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSummaryClientStarts(t *testing.T) {
	in, err := Load(filepath.Join("testdata", "results", "2026-01-01T000000Z-netpoll"))
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize(in)
	// The fixture's clients write their first lines 0.2 s apart, each at elapsed 0.
	if got, want := s.ClientStartOffsets(), "client1 +0.00 s, client2 +0.20 s, client3 +0.40 s"; got != want {
		t.Errorf("client starts %q, want %q (client_start_unix %v)", got, want, s.ClientStartUnix)
	}
}
