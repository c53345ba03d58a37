// Package netpoll is comet's netpoll worker: one easygo epoll loop per process on raw fds, requests held on a
// timing wheel, push delivery from the master's control socket, and a drain on SIGTERM.
//
// Memory per held connection is the point. A connection costs: 2 bytes of state (conns), 12 bytes of wheel
// entry, one 16-byte callback closure (it captures a single integer naming worker and fd, see connKey) and
// easygo's map entry for the fd. The closure is garbage once the conn closes, so nothing per conn outlives it but
// the two pointer-free table slots. Read bytes land in one shared 16 KiB buffer; only connections with a partial
// head, unanswered pipelined requests, unsent output or a held /sub poll have an entry in a side map.
package netpoll

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/cometcfg"
	"github.com/comet-lab/comet-lab/src/comet/control"
	"github.com/comet-lab/comet-lab/src/comet/pushstore"
	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/comet-lab/comet-lab/src/comet/wheel"
	"github.com/comet-lab/comet-lab/src/lib/httpwire"
	"github.com/comet-lab/comet-lab/src/lib/netloop"
	"github.com/mailru/easygo/netpoll"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Limits of the worker; exported so tests and docs agree with the code.
const (
	ReadBufSize   = 16 << 10 // shared read buffer of the loop
	MaxPipelined  = 64 << 10 // bytes of unanswered requests kept per conn (PipelineCloses beyond)
	MaxOutQueue   = 64 << 10 // bytes of unsent answers kept per conn (SlowCloses beyond)
	AcceptBatch   = 256      // accepts per listener wakeup, so one busy listener cannot starve the conns
	EmfileBackoff = 100 * time.Millisecond
	// MaxPrealloc bounds the per-fd tables sized up front from RLIMIT_NOFILE (beyond it they grow on demand).
	MaxPrealloc = 1 << 16
	// FreeAfterChurn and FreeQuiet: once at least FreeAfterChurn accepts+closes happened and none for FreeQuiet
	// (the end of a ramp or of a mass disconnect), garbage is collected and freed pages go back to the OS.
	FreeAfterChurn = 1024
	FreeQuiet      = 2 * time.Second
	epollExcl      = 1 << 28 // EPOLLEXCLUSIVE: wake one of the workers sharing the listener, not all
)

// connEvents are the events of every connection; Out is added only while output is queued.
const connEvents = netloop.In | netloop.RdHup | netloop.Edge

// Connection states.
const (
	stFree    uint8 = iota
	stIdle          // waiting for a request (idle timer scheduled)
	stHead          // part of a head received (header timer scheduled)
	stHeld          // request parsed, answer waits on the wheel or a push
	stClosing       // final answer queued, close once written
)

// Connection flags.
const (
	fKeep     uint8 = 1 << iota // the held request keeps the connection alive
	fHeadOnly                   // the held request is HEAD
	fSub                        // the held request is a /sub poll (entry in subs)
	fSpill                      // entry in spill
	fOut                        // entry in outq, Out enabled
	fSubEntry                   // entries in subs and byID (kept between this conn's polls)
)

type conn struct {
	state uint8
	flags uint8
}

type worker struct {
	cfg  cometcfg.Config
	slot stats.Slot
	log  *logrus.Logger
	loop *netloop.Loop
	lfd  int
	cfd  int

	conns   []conn // by fd
	fdLimit int    // RLIMIT_NOFILE soft limit: no fd reaches it, so tables need no more slots (0: unknown)
	reg     int    // index in the registry, the high half of this worker's connKeys
	live    int
	wheel   *wheel.Wheel
	fire    func(int)                     // w.onFire bound once, so Advance does not allocate
	pushFn  func(*control.Message) uint64 // w.push and w.drainRequested bound once for control.Handle
	drainFn func()

	spill map[int][]byte // unparsed input: partial head or pipelined requests
	outq  map[int][]byte // unsent output
	subs  map[int]string // by fd: the id of the conn's last /sub poll (fSubEntry)
	byID  map[string]int // id -> fd of the most recent poll for it (last one wins)

	store *pushstore.Store
	rng   *rand.Rand
	rbuf  []byte
	cbuf  []byte // control packets
	wbuf  []byte // building message answers
	gbuf  []byte // an answer with the X-Oldest-Seq header
	msg   [4][]byte
	msgOf uint64 // seq the msg variants were built for

	// fixed answers, built once
	okResp    [2][2][]byte // [keep][headOnly]
	emptyResp [2][2][]byte
	errResp   map[int][]byte

	heads      int
	paused     bool // listener removed after EMFILE
	inEpisode  bool // EMFILE pause not yet followed by a successful accept
	listening  bool
	pauseTimer int
	evfd       int // eventfd the SIGTERM goroutine pokes (netloop.Waker has no way to close its fd)
	draining   bool
	drainBy    time.Time
	finished   bool
	done       chan struct{}
	sigterm    atomic.Bool
	churn      int       // accepts and closes since the last FreeOSMemory
	churnTick  int       // accepts and closes since the last tick
	lastChurn  time.Time // last tick that saw accepts or closes
	lastFree   time.Time
	logged     map[string]time.Time
}

// MaxWorkersPerProcess bounds the workers running at once in one process (comet runs one; tests run several).
const MaxWorkersPerProcess = 256

// registry lets a connection's epoll callback capture one integer instead of a worker pointer and an fd: a
// closure over a single word is a 16-byte object, over two words 24 bytes (Go's size classes), and there is one
// per connection. Slots are atomic because every worker's loop goroutine reads them.
var registry struct {
	mu      sync.Mutex // serialises claim and release
	workers [MaxWorkersPerProcess]atomic.Pointer[worker]
}

// register claims a free registry slot for s.
func (s *worker) register() error {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	for i := range registry.workers {
		if registry.workers[i].Load() == nil {
			s.reg = i
			registry.workers[i].Store(s)
			return nil
		}
	}
	return fmt.Errorf("netpoll worker: more than %d workers in one process", MaxWorkersPerProcess)
}

func (s *worker) unregister() {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	registry.workers[s.reg].CompareAndSwap(s, nil)
}

// connKey packs a registry slot and an fd into the one integer a connection's callback captures.
func connKey(reg, fd int) uint64 { return uint64(reg)<<32 | uint64(uint32(fd)) }

// connCallback is the epoll callback of fd in the worker at registry slot reg.
func connCallback(reg, fd int) func(netpoll.EpollEvent) {
	key := connKey(reg, fd)
	return func(ev netpoll.EpollEvent) { onConnKey(key, ev) }
}

func onConnKey(key uint64, ev netpoll.EpollEvent) {
	// nil only if the worker is gone; its loop is closed by then, so this is belt and braces.
	if s := registry.workers[key>>32].Load(); s != nil {
		s.onConn(int(uint32(key)), ev)
	}
}

// RunWorker serves cfg on w.ListenFD until a drain (SIGTERM, EOF or Drain on w.ControlFD) has answered every held
// request and closed every connection, then returns nil. It takes ownership of w.ListenFD (closed on drain); the
// caller keeps w.ControlFD (-1: no master). A second held /sub poll with an id already held elsewhere takes over
// publishes for that id (last one wins); the older poll still gets broadcasts and its hold timer.
func RunWorker(cfg cometcfg.Config, w cometcfg.Worker) error {
	log := w.Log
	if log == nil {
		log = logrus.StandardLogger()
	}
	s := &worker{
		cfg: cfg, slot: w.Slot, log: log, lfd: w.ListenFD, cfd: w.ControlFD,
		spill: map[int][]byte{}, outq: map[int][]byte{}, subs: map[int]string{}, byID: map[string]int{},
		store:   pushstore.New(cfg.Keep),
		rng:     rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())<<16|uint64(w.Index))),
		rbuf:    make([]byte, ReadBufSize),
		errResp: map[int][]byte{},
		done:    make(chan struct{}),
		logged:  map[string]time.Time{},
	}
	if err := s.register(); err != nil {
		return err
	}
	defer s.unregister() // after cleanup (deferred later, or called before return): the loop is closed by then
	s.buildFixed()
	slots := 1
	if cfg.Tick > 0 {
		slots = int(max(cfg.HoldMax, cfg.IdleTimeout, cfg.HeaderTimeout)/cfg.Tick) + 2
	}
	s.wheel = wheel.New(cfg.Tick, min(slots, 4096))
	s.fire = s.onFire
	s.pushFn, s.drainFn = s.push, s.drainRequested
	s.sizeTables()

	loopErr := make(chan error, 1)
	loop, err := netloop.New(func(err error) {
		select {
		case loopErr <- err:
		default:
		}
	})
	if err != nil {
		return err
	}
	s.loop = loop
	s.pauseTimer, s.evfd = -1, -1
	var stopTick func()
	cleanup := func() {
		loop.Close() // waits for the loop goroutine: nothing below races with a callback
		if stopTick != nil {
			stopTick()
		}
		if !s.finished {
			s.finished = true
			close(s.done)
		}
		// The eventfd closes last, after the SIGTERM goroutine saw done (see the deferred wait above).
		if s.pauseTimer >= 0 {
			unix.Close(s.pauseTimer)
		}
	}
	now := time.Now()
	s.slot.Started(now)
	// Notify before the listener is live, so a SIGTERM never finds the default (fatal) disposition.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	defer signal.Stop(sig)
	if err := s.setup(); err != nil {
		cleanup()
		if s.evfd >= 0 {
			unix.Close(s.evfd)
		}
		return err
	}
	sigDone := make(chan struct{})
	defer func() {
		<-sigDone
		unix.Close(s.evfd)
	}()
	go func() {
		defer close(sigDone)
		select {
		case <-sig:
			s.sigterm.Store(true)
			one := [8]byte{1}
			unix.Write(s.evfd, one[:])
		case <-s.done:
		}
	}()
	stopTick, err = loop.Ticker(min(cfg.Tick, time.Second), s.onTick)
	if err != nil {
		cleanup()
		return err
	}
	log.WithFields(logrus.Fields{"worker": w.Index, "pid": os.Getpid()}).Info("netpoll worker serving")

	select {
	case <-s.done:
		err = nil
	case err = <-loopErr:
		err = fmt.Errorf("netpoll worker: epoll wait: %w", err)
	}
	cleanup()
	if err == nil {
		log.WithField("worker", w.Index).Info("netpoll worker drained")
	}
	return err
}

// setup registers the listener, the EMFILE back-off timer, the signal eventfd and the control socket. Fields are
// set before each Add: the loop goroutine may run a callback as soon as Add returns.
func (s *worker) setup() error {
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("netpoll worker: eventfd: %w", err)
	}
	s.evfd = evfd
	if err := s.loop.Add(evfd, netloop.In, s.onWake); err != nil {
		return fmt.Errorf("netpoll worker: add eventfd: %w", err)
	}
	if err := unix.SetNonblock(s.lfd, true); err != nil {
		return fmt.Errorf("netpoll worker: listener fd %d: %w", s.lfd, err)
	}
	s.listening = true
	if err := s.loop.Add(s.lfd, netloop.In|epollExcl, s.onListener); err != nil {
		s.listening = false
		return fmt.Errorf("netpoll worker: add listener fd %d: %w", s.lfd, err)
	}
	// Created up front: when accept says EMFILE there may be no fd left for a timer.
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("netpoll worker: timerfd: %w", err)
	}
	s.pauseTimer = tfd
	if err := s.loop.Add(tfd, netloop.In, s.onPauseTimer); err != nil {
		return fmt.Errorf("netpoll worker: add timerfd: %w", err)
	}
	if s.cfd >= 0 {
		if err := unix.SetNonblock(s.cfd, true); err != nil {
			return fmt.Errorf("netpoll worker: control fd %d: %w", s.cfd, err)
		}
		s.cbuf = make([]byte, control.MaxPacket)
		if err := s.loop.Add(s.cfd, netloop.In|netloop.RdHup, s.onControl); err != nil {
			return fmt.Errorf("netpoll worker: add control fd %d: %w", s.cfd, err)
		}
	}
	return nil
}

func (s *worker) onWake(ev netpoll.EpollEvent) {
	if ev&netloop.Closed != 0 {
		return
	}
	var b [8]byte
	unix.Read(s.evfd, b[:])
	if s.sigterm.Load() {
		s.startDrain("SIGTERM")
	}
}

var allowHeader = [][2]string{{"Allow", "GET, HEAD"}}

func (s *worker) buildFixed() {
	for k := 0; k < 2; k++ {
		for h := 0; h < 2; h++ {
			s.okResp[k][h] = httpwire.AppendResponse(nil, 200, nil, []byte("ok\n"), k == 1, h == 1)
			s.emptyResp[k][h] = httpwire.AppendResponse(nil, 200, nil, nil, k == 1, h == 1)
		}
	}
	for _, st := range []int{400, 405, 408, 413, 414, 417, 421, 431, 501, 503, 505} {
		var hdr [][2]string
		if st == 405 {
			hdr = allowHeader // RFC 9110 §15.5.6: a 405 MUST list the methods the resource supports
		}
		s.errResp[st] = httpwire.AppendResponse(nil, st, hdr, nil, false, false)
	}
}

// logLimited logs an error at most once per 10 s per kind.
func (s *worker) logLimited(kind string, err error) {
	now := time.Now()
	if t, ok := s.logged[kind]; ok && now.Sub(t) < 10*time.Second {
		return
	}
	s.logged[kind] = now
	s.log.WithError(err).WithField("kind", kind).Warn("netpoll worker")
}
