package monitor

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/lib/schema"
)

// startSleeper starts a child in its own process group that the selectors can find.
func startSleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func TestSelectorFind(t *testing.T) {
	child := startSleeper(t)
	pid := child.Process.Pid
	pidsFile := filepath.Join(t.TempDir(), "pids")
	// 2147483 is a pid that does not exist (above pid_max defaults): it must be dropped.
	if err := os.WriteFile(pidsFile, fmt.Appendf(nil, "%d\n2147483\n", pid), 0o644); err != nil {
		t.Fatal(err)
	}
	sleepPath, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		sel  Selector
	}{
		{"exe", Selector{Exe: sleepPath}},
		{"pgid", Selector{PGID: pid}},
		{"pids-from-file", Selector{PidsFile: pidsFile}},
		{"match", Selector{Match: "sleep"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.sel.Validate(); err != nil {
				t.Fatal(err)
			}
			pids, err := tc.sel.Find("/proc")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(pids, pid) {
				t.Errorf("pids %v do not contain the sleeper %d", pids, pid)
			}
			if slices.Contains(pids, os.Getpid()) {
				t.Errorf("pids %v contain the test process", pids)
			}
			if tc.name == "pgid" && len(pids) != 1 {
				t.Errorf("pgid selected %v, want only %d", pids, pid)
			}
		})
	}
}

func TestSelectorValidate(t *testing.T) {
	bad := []Selector{
		{},
		{Exe: "/bin/sh", Match: "sh"},
		{PGID: -3},
		{Exe: "/nonexistent/comet"},
	}
	for _, sel := range bad {
		if err := sel.Validate(); err == nil {
			t.Errorf("%+v: want error", sel)
		}
	}
}

func TestStatPGID(t *testing.T) {
	tests := []struct {
		stat string
		pgid int
		ok   bool
	}{
		{"12 (comet) S 1 12 12 0", 12, true},
		{"13 (a) b) S 1 7 7", 7, true},
		{"13 (x) S", 0, false},
		{"garbage", 0, false},
	}
	for _, tc := range tests {
		pgid, ok := statPGID([]byte(tc.stat))
		if pgid != tc.pgid || ok != tc.ok {
			t.Errorf("%q: %d %v, want %d %v", tc.stat, pgid, ok, tc.pgid, tc.ok)
		}
	}
}

func TestCPUPercent(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur map[int]uint64
		dt        float64
		want      float64
	}{
		{"one core busy", map[int]uint64{1: 100}, map[int]uint64{1: 200}, 1, 100},
		{"two procs half second", map[int]uint64{1: 0, 2: 10}, map[int]uint64{1: 25, 2: 35}, 0.5, 100},
		{"new process counts whole", map[int]uint64{1: 0}, map[int]uint64{1: 10, 9: 5}, 1, 15},
		{"exited process ignored", map[int]uint64{1: 0, 2: 500}, map[int]uint64{1: 30}, 2, 15},
		{"counter reset ignored", map[int]uint64{1: 50}, map[int]uint64{1: 10}, 1, 0},
	}
	for _, tc := range tests {
		if got := CPUPercent(tc.prev, tc.cur, tc.dt); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if !math.IsNaN(CPUPercent(nil, nil, 0)) {
		t.Error("dt=0 must give NaN")
	}
}

func TestPeakTracker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := peakTracker{every: 10 * time.Second}
	steps := []struct {
		at    int
		conns float64
		want  bool
	}{
		{0, 0, false},          // nothing connected yet
		{1, 100, true},         // first maximum
		{2, 200, false},        // new maximum but too soon: pending
		{5, math.NaN(), false}, // admin down
		{11, 200, true},        // still at the maximum after 10 s: owed snapshot
		{12, 150, false},
		{30, 150, false}, // below the maximum: nothing new
	}
	for _, s := range steps {
		got := p.observe(schema.MonitorRow{T: float64(t0.Add(time.Duration(s.at)*time.Second).UnixNano()) / 1e9, Conns: s.conns})
		if got != s.want {
			t.Errorf("t=%d conns=%v: snapshot=%v want %v", s.at, s.conns, got, s.want)
		}
	}
}

// fakeAdmin serves /stats with conns that grow by 10 per request.
func fakeAdmin(t *testing.T, token string) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stats" {
			http.NotFound(w, r)
			return
		}
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		c := n.Add(10)
		fmt.Fprintf(w, `{"engine":"netpoll","conns":%d,"held":%d,"errors":{}}`, c, c-1)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func col(name string) int { return slices.Index(schema.MonitorColumns(), name) }

func TestRunWritesSamples(t *testing.T) {
	child := startSleeper(t)
	admin, _ := fakeAdmin(t, "s3cret")
	dir := t.TempDir()
	out := filepath.Join(dir, "monitor.csv")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Select:     Selector{PGID: child.Process.Pid},
		Admin:      strings.TrimPrefix(admin.URL, "http://"), // scheme-less form is accepted
		AdminToken: "s3cret",
		Every:      50 * time.Millisecond,
		PeakDir:    filepath.Join(dir, "peak"),
		PeakEvery:  time.Hour,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	if err := Run(ctx, cfg, f); err != nil {
		t.Fatal(err)
	}
	f.Close()

	recs := readCSV(t, out)
	if !slices.Equal(recs[0], schema.MonitorColumns()) {
		t.Fatalf("header %v", recs[0])
	}
	rows := recs[1:]
	if len(rows) < 3 {
		t.Fatalf("%d rows, want >= 3", len(rows))
	}
	if rows[0][col("comet_cpu_percent")] != "" {
		t.Errorf("first row has CPU %q: there is no previous reading to diff against", rows[0][col("comet_cpu_percent")])
	}
	var prevConns float64
	withConns := 0
	for i, r := range rows {
		if r[col("conns")] == "" {
			continue // an admin answer slower than the timeout is tolerated, as in the lab
		}
		withConns++
		conns, err1 := strconv.ParseFloat(r[col("conns")], 64)
		held, err2 := strconv.ParseFloat(r[col("held")], 64)
		pss, err3 := strconv.ParseFloat(r[col("comet_pss_bytes")], 64)
		slab, err4 := strconv.ParseFloat(r[col("slab_bytes")], 64)
		if err := firstErr(err1, err2, err3, err4); err != nil {
			t.Fatalf("row %d %v: %v", i, r, err)
		}
		if conns <= prevConns || held != conns-1 {
			t.Errorf("row %d: conns=%v held=%v after %v", i, conns, held, prevConns)
		}
		prevConns = conns
		if pss <= 0 || slab <= 0 {
			t.Errorf("row %d: pss=%v slab=%v", i, pss, slab)
		}
		if i > 0 {
			if _, err := strconv.ParseFloat(r[col("comet_cpu_percent")], 64); err != nil {
				t.Errorf("row %d cpu %q: %v", i, r[col("comet_cpu_percent")], err)
			}
		}
	}
	if withConns < 2 {
		t.Errorf("only %d rows carry admin figures", withConns)
	}
	// The first maximum is snapshotted at once; with PeakEvery=1h later maxima are
	// owed and written again at the end. Either way the three files must exist.
	for _, name := range []string{"top.txt", "sockstat.txt", "free.txt"} {
		b, err := os.ReadFile(filepath.Join(cfg.PeakDir, name))
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %v (%d bytes)", name, err, len(b))
		}
	}
	if b, _ := os.ReadFile(filepath.Join(cfg.PeakDir, "sockstat.txt")); !strings.Contains(string(b), "TCP:") {
		t.Errorf("sockstat.txt lacks the TCP line: %q", b)
	}
}

func TestRunAdminDownAndUntilFile(t *testing.T) {
	child := startSleeper(t)
	// A port that was just closed: connections are refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	dir := t.TempDir()
	until := filepath.Join(dir, "stop")
	out := filepath.Join(dir, "monitor.csv")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Select: Selector{PGID: child.Process.Pid}, Admin: "http://" + addr, Every: 30 * time.Millisecond, UntilFile: until}
	go func() {
		time.Sleep(200 * time.Millisecond)
		_ = os.WriteFile(until, nil, 0o644)
	}()
	// The generous timeout only guards against a Run that ignores the until-file.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := Run(ctx, cfg, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if ctx.Err() != nil {
		t.Fatal("Run stopped by the timeout, not by the until-file")
	}
	rows := readCSV(t, out)[1:]
	if len(rows) == 0 {
		t.Fatal("no rows")
	}
	for i, r := range rows {
		if r[col("conns")] != "" || r[col("held")] != "" {
			t.Errorf("row %d: conns/held %q/%q with admin down, want empty", i, r[col("conns")], r[col("held")])
		}
		if r[col("comet_pss_bytes")] == "" || r[col("tcp_inuse")] == "" {
			t.Errorf("row %d: process and kernel cells must not depend on the admin: %v", i, r)
		}
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// -tree-of selects the process in the pid file and its descendants (nginx's master and workers), not another
// process with the same binary.
func TestSelectorTree(t *testing.T) {
	other := startSleeper(t)
	parent := exec.Command("sh", "-c", "sleep 60 & sleep 60 & wait")
	parent.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-parent.Process.Pid, syscall.SIGKILL) // the sleeps too
		_ = parent.Wait()
	})
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		file    string
		want    int // pids selected
		wantErr bool
	}{
		{"master and its two children", write("live", fmt.Sprintf("%d\n", parent.Process.Pid)), 3, false},
		{"gone", write("gone", "2147483\n"), 0, false},
		{"not a pid", write("junk", "nginx\n"), 0, true},
		{"no file", filepath.Join(dir, "missing"), 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sel := Selector{TreeOf: tc.file}
			if err := sel.Validate(); err != nil {
				t.Fatal(err)
			}
			var pids []int
			var err error
			// The shell forks its sleeps right after it starts.
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if pids, err = sel.Find("/proc"); err != nil || len(pids) >= tc.want {
					break
				}
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if len(pids) != tc.want || slices.Contains(pids, other.Process.Pid) {
				t.Errorf("pids %v: want %d, without the other sleeper %d", pids, tc.want, other.Process.Pid)
			}
		})
	}
}
