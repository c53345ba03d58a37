// Package workertest holds what tests of both engines share: the inheritance a worker gets from its master for
// in-process runs (a listener on 127.0.0.1, a control socket pair, a local counters slot, a quiet logger), and
// helpers for tests that start comet or flood as processes.
package workertest

import (
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/comet-lab/comet-lab/src/comet/cometcfg"
	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/comet-lab/comet-lab/src/lib/netloop"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Env is a worker's inheritance plus the test's end of the control socket.
type Env struct {
	Port   int             // the listener's port on 127.0.0.1
	Ctl    int             // the master's end of the control socket (close it to make the worker drain)
	Worker cometcfg.Worker // what to pass to RunWorker
	Slot   stats.Slot      // the worker's counters (also Worker.Slot)
}

// New opens the listener (backlog) and the control socket pair; the test owns Ctl.
func New(t testing.TB, backlog int) Env {
	t.Helper()
	lfd, err := netloop.Listen("127.0.0.1:0", backlog, false)
	if err != nil {
		t.Fatal(err)
	}
	port, err := netloop.LocalPort(lfd)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	slot := stats.Local()
	return Env{Port: port, Ctl: pair[0], Slot: slot,
		Worker: cometcfg.Worker{ListenFD: lfd, Slot: slot, ControlFD: pair[1], Log: log}}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago (for a process the test starts).
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := netloop.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// LogBuffer collects a started process's output while the test reads it.
type LogBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is what was written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
