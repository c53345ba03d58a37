package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// buildBinaries builds comet and flood from this module into a temp dir.
func buildBinaries(t *testing.T) (comet, flood string) {
	t.Helper()
	dir := t.TempDir()
	_, file, _, _ := runtime.Caller(0)
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(gobin, "build", "-o", dir+"/", "./src/cmd/comet", "./src/cmd/flood")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return filepath.Join(dir, "comet"), filepath.Join(dir, "flood")
}

// TestMemAndChurnOnLoopback runs both drivers at a small scale against the real binaries.
func TestMemAndChurnOnLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("starts comet and flood")
	}
	comet, flood := buildBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := Options{Comet: comet, Flood: flood, Engine: "netpoll", Conns: 300, RampLimit: 30 * time.Second}

	res, err := Mem(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Conns != 300 || res.Procs != 2 || res.CometPSS == 0 || res.CometIdlePSS == 0 || res.FloodPSS == 0 {
		t.Errorf("mem result incomplete: %+v", res)
	}
	if res.BytesPerConn != float64(res.CometPSS)/300 {
		t.Errorf("bytes/conn %.1f is not comet PSS / conns", res.BytesPerConn)
	}

	var seen []int
	cycles, err := Churn(ctx, o, 2, func(c ChurnCycle) { seen = append(seen, c.Cycle) })
	if err != nil {
		t.Fatal(err)
	}
	if len(cycles) != 2 || len(seen) != 2 {
		t.Fatalf("churn: %d cycles, %d reported, want 2", len(cycles), len(seen))
	}
	for _, c := range cycles {
		// master + 2 workers, each with at least stdin/out/err
		if c.FDs < 9 || c.Threads < 3 || c.PSS == 0 {
			t.Errorf("cycle %+v: implausible process figures", c)
		}
	}
	if v := Judge(cycles); v.LeakedFDs > 0 {
		t.Errorf("comet leaked %d fds over a churn cycle", v.LeakedFDs)
	}
}

// TestPubOnLoopback publishes for a moment against the real comet: every POST counted, CPU per publish measured.
func TestPubOnLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("starts comet")
	}
	comet, flood := buildBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := Options{Comet: comet, Flood: flood, Engine: "netpoll", Conns: 1, Procs: 3}
	res, err := Pub(ctx, o, PubOptions{Publishers: 4, Window: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Procs != 3 || res.Publishes == 0 || res.PerSecond <= 0 || res.CPUS <= 0 || res.UsPerPublish <= res.WorkersUsPerPublish {
		t.Errorf("pub result implausible: %+v", res)
	}
	if _, err := Pub(ctx, Options{Comet: comet, Flood: flood, Engine: "netpoll", Conns: 1, Procs: 2,
		CometArgs: []string{"-max-message", "4"}}, PubOptions{Publishers: 1, Window: time.Second}); err == nil {
		t.Error("a publish comet refuses (413: message over -max-message) did not fail the benchmark")
	}
}
