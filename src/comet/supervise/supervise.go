// Package supervise is comet's prefork master: it starts N worker processes that inherit the listening socket,
// the stats memfd and one end of a control socketpair, restarts a worker that dies, and drains them all on
// shutdown. It knows nothing about HTTP: what the workers serve and what travels on the control sockets belong to
// the caller (src/comet/master).
package supervise

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/cometcfg"
	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Crash-loop back-off: more than loopRestarts restarts of one slot within loopWindow delays the next by loopDelay,
// so a worker that cannot start does not spin the master at 100 % CPU.
const (
	loopRestarts = 5
	loopWindow   = 10 * time.Second
	loopDelay    = time.Second
	// logEvery rate-limits the died/restarted lines per slot; suppressed events are counted in the next line.
	logEvery = time.Second
)

// Config describes the workers to run.
type Config struct {
	Procs    int
	Path     string   // executable to run; empty = /proc/self/exe (works even if the file was replaced)
	Argv0    string   // argv[0] of the workers; empty = os.Args[0]
	Args     []string // arguments after argv[0] (cometcfg.WorkerArg first, then the flags)
	Env      []string // base environment; COMET_WORKER_INDEX and GOMAXPROCS=1 are added per worker
	ListenFD int      // becomes fd 3 in every worker (when ListenFDs is empty)
	// ListenFDs, if set, gives each worker slot its own listener (SO_REUSEPORT group), as fd 3. The master keeps them
	// open, so a restarted worker finds its accept queue with every connection that arrived meanwhile.
	ListenFDs []int
	Table     *stats.Table
	Log       *logrus.Logger

	// Attach is called with a new worker's control connection before its process starts, so the caller can queue
	// packets (a replay of recent messages) that the worker reads as soon as it runs. Optional.
	Attach func(c *Conn)
	// Detach is called once the worker's process has exited and been reaped. Optional.
	Detach func(c *Conn)
}

// Conn is the master's end of one worker's control socket.
type Conn struct {
	Index int
	File  *os.File // nonblocking, registered with the Go poller: Read/Write honour deadlines and Close unblocks them
	wmu   sync.Mutex
}

// WritePacket sends one packet; concurrent callers are serialised so packets never interleave.
func (c *Conn) WritePacket(p []byte, timeout time.Duration) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if timeout > 0 {
		c.File.SetWriteDeadline(time.Now().Add(timeout))
	}
	_, err := c.File.Write(p)
	return err
}

// Lock holds back other writers (the caller is queueing a replay that must come before anything newer).
func (c *Conn) Lock() { c.wmu.Lock() }

// Unlock releases Lock.
func (c *Conn) Unlock() { c.wmu.Unlock() }

// WriteLocked writes a packet while the caller holds Lock.
func (c *Conn) WriteLocked(p []byte, timeout time.Duration) error {
	if timeout > 0 {
		c.File.SetWriteDeadline(time.Now().Add(timeout))
	}
	_, err := c.File.Write(p)
	return err
}

// WorkerInfo is one slot as reported by Workers.
type WorkerInfo struct {
	Index    int
	PID      int // 0 while the slot has no running process
	Restarts uint64
	Started  time.Time
}

type slot struct {
	index    int
	proc     *os.Process
	conn     *Conn
	started  time.Time
	restarts uint64
	recent   []time.Time // restart times within loopWindow
	lastLog  time.Time
	quiet    int // log lines suppressed since lastLog
}

// Supervisor runs the workers.
type Supervisor struct {
	cfg      Config
	mu       sync.Mutex
	slots    []*slot
	draining bool
	running  sync.WaitGroup // one per live process
	exited   chan int       // slot index of every reaped process
}

// New checks cfg; Start launches the workers.
func New(cfg Config) (*Supervisor, error) {
	if cfg.Procs < 1 {
		return nil, fmt.Errorf("supervise: need at least one worker, got %d", cfg.Procs)
	}
	if cfg.Table == nil || cfg.Table.Slots() < cfg.Procs {
		return nil, errors.New("supervise: stats table missing or smaller than -procs")
	}
	if cfg.Path == "" {
		cfg.Path = "/proc/self/exe"
	}
	if cfg.Argv0 == "" {
		cfg.Argv0 = os.Args[0]
	}
	if cfg.Log == nil {
		cfg.Log = logrus.StandardLogger()
	}
	s := &Supervisor{cfg: cfg, exited: make(chan int, cfg.Procs)}
	for i := range cfg.Procs {
		s.slots = append(s.slots, &slot{index: i})
	}
	return s, nil
}

// Start launches every worker. If one cannot be started, the ones already running are killed.
func (s *Supervisor) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sl := range s.slots {
		if err := s.spawn(sl); err != nil {
			s.killAllLocked()
			return err
		}
	}
	return nil
}

// spawn starts the process of one slot; s.mu is held.
func (s *Supervisor) spawn(sl *slot) error {
	// The child's end is a plain blocking fd; the master's end goes to the Go poller. Seqpacket keeps one
	// control message per packet.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("supervise: socketpair: %w", err)
	}
	masterFD, childFD := fds[0], fds[1]
	// Room for a replay of recent messages before the worker reads anything (root may exceed wmem_max).
	if unix.SetsockoptInt(masterFD, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 1<<20) != nil {
		unix.SetsockoptInt(masterFD, unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
	}
	if err := unix.SetNonblock(masterFD, true); err != nil {
		unix.Close(masterFD)
		unix.Close(childFD)
		return fmt.Errorf("supervise: control socket: %w", err)
	}
	conn := &Conn{Index: sl.index, File: os.NewFile(uintptr(masterFD), fmt.Sprintf("comet-control-%d", sl.index))}

	s.cfg.Table.Slot(sl.index).Reset()
	if s.cfg.Attach != nil {
		s.cfg.Attach(conn)
	}
	env := append(withoutVars(s.cfg.Env, cometcfg.WorkerIndexEnv, "GOMAXPROCS"),
		fmt.Sprintf("%s=%d", cometcfg.WorkerIndexEnv, sl.index), "GOMAXPROCS=1")
	// syscall.StartProcess takes raw fds: os/exec would call File.Fd(), which switches the shared listening
	// socket to blocking mode for every worker.
	listenFD := s.cfg.ListenFD
	if len(s.cfg.ListenFDs) > 0 {
		listenFD = s.cfg.ListenFDs[sl.index]
	}
	pid, _, err := syscall.StartProcess(s.cfg.Path, append([]string{s.cfg.Argv0}, s.cfg.Args...), &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2, uintptr(listenFD), uintptr(s.cfg.Table.FD), uintptr(childFD)},
		// A worker whose master is SIGKILLed drains (it also sees EOF on its control socket).
		Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM},
	})
	unix.Close(childFD)
	if err != nil {
		conn.File.Close()
		if s.cfg.Detach != nil {
			s.cfg.Detach(conn)
		}
		return fmt.Errorf("supervise: start worker %d (%s): %w", sl.index, s.cfg.Path, err)
	}
	proc, err := os.FindProcess(pid) // never fails on Unix; holds a pidfd so signals cannot hit a reused pid
	if err != nil {
		return fmt.Errorf("supervise: worker %d pid %d: %w", sl.index, pid, err)
	}
	s.cfg.Table.Slot(sl.index).Set(stats.PID, uint64(pid))
	sl.proc, sl.conn, sl.started = proc, conn, time.Now()
	s.running.Add(1)
	go s.wait(sl, proc, conn)
	return nil
}

// wait reaps one process and restarts its slot unless the master is draining.
func (s *Supervisor) wait(sl *slot, proc *os.Process, conn *Conn) {
	defer s.running.Done()
	state, err := proc.Wait()
	conn.File.Close()
	if s.cfg.Detach != nil {
		s.cfg.Detach(conn)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sl.proc, sl.conn = nil, nil
	select {
	case s.exited <- sl.index:
	default:
	}
	if s.draining {
		s.cfg.Log.WithFields(logrus.Fields{"worker": sl.index, "pid": proc.Pid, "status": describe(state, err)}).Info("worker exited")
		return
	}
	now := time.Now()
	keep := sl.recent[:0]
	for _, t := range sl.recent {
		if now.Sub(t) < loopWindow {
			keep = append(keep, t)
		}
	}
	sl.recent = append(keep, now)
	sl.restarts++
	delay := time.Duration(0)
	if len(sl.recent) > loopRestarts {
		delay = loopDelay
	}
	if now.Sub(sl.lastLog) >= logEvery {
		s.cfg.Log.WithFields(logrus.Fields{
			"worker": sl.index, "pid": proc.Pid, "status": describe(state, err), "restarts": sl.restarts,
			"suppressed": sl.quiet, "crash_loop": delay > 0,
		}).Warn("worker died, restarting")
		sl.lastLog, sl.quiet = now, 0
	} else {
		sl.quiet++
	}
	if delay == 0 {
		s.respawn(sl)
		return
	}
	go func() {
		time.Sleep(delay)
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.draining {
			s.respawn(sl)
		}
	}()
}

// respawn starts a slot again; a failure is retried after the crash-loop delay. s.mu is held.
func (s *Supervisor) respawn(sl *slot) {
	if err := s.spawn(sl); err != nil {
		s.cfg.Log.WithError(err).WithField("worker", sl.index).Error("worker restart failed, retrying")
		time.AfterFunc(loopDelay, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if !s.draining && sl.proc == nil {
				s.respawn(sl)
			}
		})
	}
}

// Workers reports every slot.
func (s *Supervisor) Workers() []WorkerInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]WorkerInfo, len(s.slots))
	for i, sl := range s.slots {
		out[i] = WorkerInfo{Index: i, Restarts: sl.restarts, Started: sl.started}
		if sl.proc != nil {
			out[i].PID = sl.proc.Pid
		}
	}
	return out
}

// Restarts is the total number of restarts over all slots.
func (s *Supervisor) Restarts() uint64 {
	var n uint64
	for _, w := range s.Workers() {
		n += w.Restarts
	}
	return n
}

// Exited delivers the slot index of every reaped worker (best effort, for tests and logs).
func (s *Supervisor) Exited() <-chan int { return s.exited }

// Drain stops restarts, asks every worker to drain by sending drainPacket on its control socket (SIGTERM if that
// fails), waits up to timeout for all of them to exit and SIGKILLs the rest. It returns an error naming the
// workers that had to be killed.
func (s *Supervisor) Drain(drainPacket []byte, timeout time.Duration) error {
	s.mu.Lock()
	s.draining = true
	type live struct {
		proc *os.Process
		conn *Conn
	}
	var procs []live
	for _, sl := range s.slots {
		if sl.proc != nil {
			procs = append(procs, live{sl.proc, sl.conn})
		}
	}
	s.mu.Unlock()
	for _, p := range procs {
		if err := p.conn.WritePacket(drainPacket, time.Second); err != nil {
			p.proc.Signal(syscall.SIGTERM)
		}
	}
	done := make(chan struct{})
	go func() { s.running.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
	}
	var killed []int
	s.mu.Lock()
	for _, sl := range s.slots {
		if sl.proc != nil {
			killed = append(killed, sl.proc.Pid)
			sl.proc.Kill()
		}
	}
	s.mu.Unlock()
	<-done
	if len(killed) > 0 {
		return fmt.Errorf("supervise: workers %v did not drain within %v and were killed", killed, timeout)
	}
	return nil
}

// killAllLocked is for a failed Start: no drain, the workers have not served anything yet.
func (s *Supervisor) killAllLocked() {
	s.draining = true
	for _, sl := range s.slots {
		if sl.proc != nil {
			sl.proc.Kill()
		}
	}
}

// Wait returns once every worker process has been reaped (after Drain, or a failed Start).
func (s *Supervisor) Wait() { s.running.Wait() }

func describe(state *os.ProcessState, err error) string {
	if err != nil {
		return err.Error()
	}
	return state.String()
}

func withoutVars(env []string, names ...string) []string {
	out := make([]string, 0, len(env)+2)
next:
	for _, kv := range env {
		for _, n := range names {
			if len(kv) > len(n) && kv[:len(n)] == n && kv[len(n)] == '=' {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}
