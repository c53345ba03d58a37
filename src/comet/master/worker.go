// The worker bootstrap: the same binary started by the master with -netpoll-worker, picking up its inherited
// listener, stats slot and control socket and handing them to the chosen engine.

package master

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/comet-lab/comet-lab/src/comet/cometcfg"
	"github.com/comet-lab/comet-lab/src/comet/stats"
	"golang.org/x/sys/unix"
)

// RunWorker is an engine's worker entry point (netpoll.RunWorker, goroutine.RunWorker).
type RunWorker func(cfg cometcfg.Config, w cometcfg.Worker) error

// netpollGCPercent is GOGC of a netpoll worker process.
const netpollGCPercent = 25

// workerMain is the worker side of the executable: the master started it with the listener on fd 3, the stats
// memfd on fd 4 and its control socket on fd 5.
func workerMain(args []string, engines Engines, stderr io.Writer) int {
	var cfg cometcfg.Config
	fs := flag.NewFlagSet("comet worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.Register(fs)
	fail := func(status int, err error) int {
		fmt.Fprintf(stderr, "comet worker: %v\n", err)
		return status
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := cfg.Validate(); err != nil {
		return fail(2, err)
	}
	run := engines[cfg.Engine]
	if run == nil {
		return fail(2, fmt.Errorf("-engine %q is not built into this binary", cfg.Engine))
	}
	index, err := strconv.Atoi(os.Getenv(cometcfg.WorkerIndexEnv))
	if err != nil {
		return fail(2, fmt.Errorf("$%s: %v (workers are started by the comet master)", cometcfg.WorkerIndexEnv, err))
	}
	log, err := NewLogger(cfg.LogFormat, cfg.LogLevel, stderr)
	if err != nil {
		return fail(2, err)
	}
	table, err := stats.Open(cometcfg.StatsFD)
	if err != nil {
		return fail(1, err)
	}
	if index < 0 || index >= table.Slots() {
		return fail(2, fmt.Errorf("$%s=%d outside the stats table of %d slots", cometcfg.WorkerIndexEnv, index, table.Slots()))
	}
	// The accept queue is shared by every worker: a blocking accept would hang in whichever worker lost the race.
	if err := unix.SetNonblock(cometcfg.ListenerFD, true); err != nil {
		return fail(1, fmt.Errorf("fd %d (listener): %w", cometcfg.ListenerFD, err))
	}
	// Ctrl-C reaches the whole process group; the master turns it into an orderly drain of every worker.
	signal.Ignore(syscall.SIGINT)
	if cfg.Engine == cometcfg.EngineNetpoll {
		// The netpoll worker allocates nothing per request, only when its tables grow: a low GC percent keeps the
		// heap, and so PSS, close to the live tables at almost no CPU cost. (The goroutine engine allocates per
		// request and keeps Go's default.)
		debug.SetGCPercent(netpollGCPercent)
		// The runtime sets up its collector bookkeeping during its first collections; doing them now, on an empty
		// heap, makes that a start-up cost instead of growth seen after the first ramp or churn cycle.
		for i := 0; i < 3; i++ {
			runtime.GC()
		}
		debug.FreeOSMemory()
	}
	w := cometcfg.Worker{Index: index, ListenFD: cometcfg.ListenerFD, Slot: table.Slot(index), ControlFD: cometcfg.ControlFD, Log: log}
	if err := run(cfg, w); err != nil {
		log.WithError(err).WithField("worker", index).Error("worker failed")
		return 1
	}
	return 0
}
