package flood

import (
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/comet-lab/comet-lab/src/comet/cometcfg"
	"github.com/comet-lab/comet-lab/src/comet/netpoll"
	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/comet-lab/comet-lab/src/lib/netloop"
)

// TestEndToEndCometWorker runs flood against comet's netpoll worker (in-process, 300 ms holds).
func TestEndToEndCometWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	cfg := cometcfg.Config{
		Listen: "127.0.0.1:0", Procs: 1, Engine: cometcfg.EngineNetpoll,
		HoldMin: 300 * time.Millisecond, HoldMax: 300 * time.Millisecond, Tick: 50 * time.Millisecond,
		HeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second, DrainTimeout: 3 * time.Second,
		MaxHeads: 1000, Backlog: 4096, MaxMessage: 4096, Keep: 64, LogFormat: "text", LogLevel: "info",
	}
	lfd, err := netloop.Listen("127.0.0.1:0", cfg.Backlog, false)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := netloop.LocalPort(lfd)
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	errc := make(chan error, 1)
	go func() {
		errc <- netpoll.RunWorker(cfg, cometcfg.Worker{ListenFD: lfd, Slot: stats.Local(), ControlFD: pair[1], Log: log})
	}()
	defer func() {
		unix.Close(pair[0]) // control EOF drains the worker
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("RunWorker: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("worker did not drain")
		}
		unix.Close(pair[1])
	}()

	code, stderr, lines := runFlood(t, 60*time.Second, "-target", "127.0.0.1:"+strconv.Itoa(port),
		"-conns", "500", "-procs", "2", "-rate", "0", "-duration", "2s", "-ports", "14000-14999")
	final := finalOf(t, lines)
	if code != 0 {
		t.Fatalf("exit %d, message %q, stderr:\n%s", code, final["message"], stderr)
	}
	if r := final["responses"].(float64); r < 500 {
		t.Errorf("responses %v, want >= 500", r)
	}
	if mn, mx := final["hold_min_s"].(float64), final["hold_max_s"].(float64); mn < 0.25 || mx > 5 {
		t.Errorf("hold %v-%v s, want about the worker's 0.3 s", mn, mx)
	}
	if final["protocol_errors"] != float64(0) || final["closed_by_server"] != float64(0) {
		t.Errorf("protocol_errors %v closed_by_server %v, want 0", final["protocol_errors"], final["closed_by_server"])
	}
}
