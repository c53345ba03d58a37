package flood

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// floodBinary builds ./src/cmd/flood once per test run.
func floodBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "flood-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "flood")
		out, err := exec.Command("go", "build", "-o", builtBin, "../cmd/flood").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building flood: %v", buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// runFlood runs the binary and returns its exit code, stderr and the parsed -out lines (last = final).
func runFlood(t *testing.T, timeout time.Duration, args ...string) (int, string, []map[string]any) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "flood.jsonl")
	cmd := exec.Command(floodBinary(t), append([]string{"-out", out, "-progress", "off"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(timeout, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		return code, stderr.String(), nil
	}
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("bad -out line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return code, stderr.String(), lines
}

func finalOf(t *testing.T, lines []map[string]any) map[string]any {
	t.Helper()
	if len(lines) == 0 {
		t.Fatal("no -out lines")
	}
	last := lines[len(lines)-1]
	if last["final"] != true {
		t.Fatalf("last line is not final: %v", last)
	}
	return last
}

func TestEndToEndHold(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	srv := startHoldServer(t, time.Second, 0, 0)
	code, stderr, lines := runFlood(t, 60*time.Second, "-target", srv.addr, "-src", "127.0.0.1,127.0.0.2",
		"-conns", "2000", "-procs", "2", "-rate", "0", "-duration", "4s", "-ports", "20000-29999")
	final := finalOf(t, lines)
	if code != 0 {
		t.Fatalf("exit %d, message %q, stderr:\n%s", code, final["message"], stderr)
	}
	if final["passed"] != true || final["established"] != float64(2000) {
		t.Errorf("final passed=%v established=%v, want true 2000", final["passed"], final["established"])
	}
	if r := final["responses"].(float64); r < 2000 {
		t.Errorf("responses %v, want >= 2000 (each conn held 1s within a 4s hold); final %v", r, final)
	}
	if h := final["hold_hist"].(map[string]any); h["1"] == nil {
		t.Errorf("hold_hist %v has no 1 s bucket for a 1 s hold", h)
	}
	// Children send only the counts since their previous report: none may be lost on the way.
	if sum := histSum(final["hold_hist"]); sum != final["responses"].(float64) {
		t.Errorf("hold_hist counts %v answers, responses %v: every answer's hold must be in it", sum, final["responses"])
	}
	if mn := final["hold_min_s"].(float64); mn < 0.9 {
		t.Errorf("hold_min_s %v below the server's 1 s hold", mn)
	}
	remotes, _, _ := srv.snapshot()
	if len(remotes) < 2000 {
		t.Errorf("server saw %d connections, want >= 2000", len(remotes))
	}
	perSrc := map[string]int{}
	for _, r := range remotes {
		host, portStr, _ := net.SplitHostPort(r)
		port, _ := strconv.Atoi(portStr)
		if port < 20000 || port > 29999 {
			t.Errorf("connection from %s: source port outside -ports 20000-29999", r)
		}
		perSrc[host]++
	}
	if perSrc["127.0.0.1"] == 0 || perSrc["127.0.0.2"] == 0 || len(perSrc) != 2 {
		t.Errorf("source addresses used %v, want both 127.0.0.1 and 127.0.0.2 only", perSrc)
	}
}

func TestEndToEndNoServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	// A port that was just free: nothing listens on it.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, stderr, lines := runFlood(t, 30*time.Second, "-target", addr, "-conns", "50", "-rate", "0",
		"-ramp-timeout", "1s", "-ports", "30000-30999")
	final := finalOf(t, lines)
	if code == 0 || final["passed"] != false {
		t.Fatalf("exit %d passed %v against no server, want failure", code, final["passed"])
	}
	msg, _ := final["message"].(string)
	if !strings.Contains(msg, "ECONNREFUSED") || !strings.Contains(msg, "not listening") {
		t.Errorf("message %q lacks ECONNREFUSED and its hint", msg)
	}
	if !strings.Contains(stderr, "ECONNREFUSED") {
		t.Errorf("stderr lacks ECONNREFUSED:\n%s", stderr)
	}
}

// TestEndToEndPushGaps: every re-poll is told (X-Oldest-Seq) that the 2 seqs after its since were dropped;
// flood counts each such answer and the seqs it skipped.
func TestEndToEndPushGaps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	srv := startSkipServer(t, time.Second, 100*time.Millisecond, 0, 2)
	code, stderr, lines := runFlood(t, 60*time.Second, "-target", srv.addr, "-conns", "10", "-procs", "1",
		"-rate", "0", "-duration", "1s", "-push", "-ports", "32000-32999")
	final := finalOf(t, lines)
	if code != 0 {
		t.Fatalf("exit %d, message %q, stderr:\n%s", code, final["message"], stderr)
	}
	recv, gaps, missed := final["push_received"].(float64), final["push_gaps"].(float64), final["push_missed"].(float64)
	// Each connection's first answer (since 0) has no gap; every later one skipped 2 seqs.
	if recv <= 10 || gaps != recv-10 || missed != 2*gaps {
		t.Errorf("push_received %v push_gaps %v push_missed %v, want gaps = received-10 > 0 and missed = 2*gaps", recv, gaps, missed)
	}
}

func TestEndToEndPush(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	srv := startHoldServer(t, time.Second, 200*time.Millisecond, 5*time.Millisecond)
	code, stderr, lines := runFlood(t, 60*time.Second, "-target", srv.addr, "-conns", "20", "-procs", "2",
		"-rate", "0", "-duration", "2s", "-push", "-ports", "31000-31999")
	final := finalOf(t, lines)
	if code != 0 {
		t.Fatalf("exit %d, message %q, stderr:\n%s", code, final["message"], stderr)
	}
	if got := final["push_received"].(float64); got < 20 {
		t.Errorf("push_received %v, want >= 20", got)
	}
	if p50 := final["push_p50_ms"].(float64); p50 < 5 {
		t.Errorf("push_p50_ms %v below the 5 ms publish age", p50)
	}
	perSeq := final["push_per_seq"].(map[string]any)
	if sum, recv := histSum(final["push_hist_ms"]), final["push_received"].(float64); sum != recv || histSum(perSeq) != recv {
		t.Errorf("push_hist_ms counts %v, push_per_seq %v, push_received %v: want all equal", sum, histSum(perSeq), recv)
	}
	if perSeq["1"] != float64(20) {
		t.Errorf("push_per_seq[1] = %v, want 20 (every subscriber's first message)", perSeq["1"])
	}
	// The fake server publishes each message 5 ms before it answers, so the latest of seq 1's deliveries is at
	// least 5 ms after its publish and, on loopback, well under the run's 2 s.
	if late := final["push_max_ms_per_seq"].(map[string]any)["1"]; late == nil || late.(float64) < 5 || late.(float64) > 2000 {
		t.Errorf("push_max_ms_per_seq[1] = %v, want 5..2000 ms", late)
	}
	_, maxSince, _ := srv.snapshot()
	if len(maxSince) != 20 {
		t.Errorf("server saw %d subscriber ids, want 20 unique: %v", len(maxSince), maxSince)
	}
	for id, since := range maxSince {
		if since < 1 {
			t.Errorf("subscriber %s never re-polled with since >= 1", id)
		}
	}
}

// TestMeasurePSSPerConn reports flood's user-space memory per held connection (one child, 10k conns, minus a
// 100-conn baseline). It is a measurement, run with FLOOD_MEASURE=1 (make flood-mem).
func TestMeasurePSSPerConn(t *testing.T) {
	if os.Getenv("FLOOD_MEASURE") == "" {
		t.Skip("set FLOOD_MEASURE=1 to measure")
	}
	srv := startHoldServer(t, time.Hour, 0, 0)
	pss := map[int]float64{}
	for _, conns := range []int{100, 10000} {
		code, stderr, lines := runFlood(t, 120*time.Second, "-target", srv.addr, "-conns", strconv.Itoa(conns),
			"-procs", "1", "-rate", "0", "-duration", "3s", "-src", "127.0.0.1,127.0.0.2", "-ports", "2000-11999")
		final := finalOf(t, lines)
		if code != 0 {
			t.Fatalf("%d conns: exit %d %q\n%s", conns, code, final["message"], stderr)
		}
		pss[conns] = final["flood_pss_bytes"].(float64)
		t.Logf("%d conns: child PSS %.0f bytes", conns, pss[conns])
	}
	perConn := (pss[10000] - pss[100]) / 9900
	t.Logf("flood PSS per connection: %.0f bytes", perConn)
	if perConn > 400 {
		t.Errorf("flood uses %.0f B/conn, want <= 400 (aim 200)", perConn)
	}
}

// TestEndToEndSigint: with -duration 0 flood holds until SIGINT, then passes if everything was still held.
func TestEndToEndSigint(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	srv := startHoldServer(t, time.Hour, 0, 0)
	out := filepath.Join(t.TempDir(), "flood.jsonl")
	cmd := exec.Command(floodBinary(t), "-out", out, "-progress", "on", "-target", srv.addr, "-conns", "300",
		"-procs", "3", "-rate", "2000", "-ports", "12000-12999")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		if bytes.Contains(b, []byte(`"established":300,`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never reached 300 established; out:\n%s\nstderr:\n%s", b, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	b, _ := os.ReadFile(out)
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	var final map[string]any
	if err := json.Unmarshal(lines[len(lines)-1], &final); err != nil {
		t.Fatal(err)
	}
	if err != nil || final["passed"] != true || final["established"] != float64(300) {
		t.Fatalf("after SIGINT: %v, final %v\nstderr:\n%s", err, final, stderr.String())
	}
	if !strings.Contains(stderr.String(), "\r") {
		t.Error("-progress on wrote no live progress line")
	}
}

// TestEndToEndRatePacing: 200 connections at -rate 200 cannot ramp much faster than a second.
func TestEndToEndRatePacing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	srv := startHoldServer(t, time.Hour, 0, 0)
	code, stderr, lines := runFlood(t, 60*time.Second, "-target", srv.addr, "-conns", "200", "-procs", "2",
		"-rate", "200", "-duration", "500ms", "-ports", "15000-15999")
	final := finalOf(t, lines)
	if code != 0 {
		t.Fatalf("exit %d, message %q, stderr:\n%s", code, final["message"], stderr)
	}
	if ramp := final["ramp_s"].(float64); ramp < 0.7 {
		t.Errorf("ramp took %.2fs at -rate 200 for 200 conns, want >= 0.7s (pacing ignored?)", ramp)
	}
}

// A start barrier: flood waits for -start-at before its first connection, and its lines count from then.
func TestEndToEndStartAt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	srv := startHoldServer(t, time.Second, 0, 0)
	startAt := float64(time.Now().Add(2*time.Second).UnixNano()) / 1e9
	code, stderr, lines := runFlood(t, 60*time.Second, "-target", srv.addr, "-src", "127.0.0.1",
		"-conns", "200", "-procs", "1", "-rate", "0", "-duration", "2s", "-ports", "30000-30999",
		"-start-at", strconv.FormatFloat(startAt, 'f', 3, 64))
	final := finalOf(t, lines)
	if code != 0 {
		t.Fatalf("exit %d, message %q, stderr:\n%s", code, final["message"], stderr)
	}
	if !strings.Contains(stderr, "waiting") {
		t.Errorf("stderr does not say flood waits for -start-at:\n%s", stderr)
	}
	for i, l := range lines {
		// t - elapsed_s is when the run started: never before the barrier (a millisecond of rounding allowed).
		if start := l["t"].(float64) - l["elapsed_s"].(float64); start < startAt-0.001 {
			t.Fatalf("line %d: run started at %.3f, before -start-at %.3f", i, start, startAt)
		}
	}
	remotes, _, _ := srv.snapshot()
	if len(remotes) < 200 {
		t.Errorf("server saw %d connections, want 200", len(remotes))
	}
}

// histSum adds the counts of a JSON histogram or per-seq object.
func histSum(h any) float64 {
	var sum float64
	for _, v := range h.(map[string]any) {
		sum += v.(float64)
	}
	return sum
}
