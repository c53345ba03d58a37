// Package server is comet's netpoll worker: one easygo epoll loop per process on raw fds, requests held on a
// timing wheel, push delivery from the master's control socket, and a drain on SIGTERM.
//
// Memory per held connection is the point. A connection costs: 2 bytes of state (conns), 12 bytes of wheel
// entry, one 16-byte callback closure (it captures a single integer naming worker and fd, see connKey) and
// easygo's map entry for the fd. The closure is garbage once the conn closes, so nothing per conn outlives it but
// the two pointer-free table slots. Read bytes land in one shared 16 KiB buffer; only connections with a partial
// head, unanswered pipelined requests, unsent output or a held /sub poll have an entry in a side map.
package netpoll

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
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
)

type conn struct {
	state uint8
	flags uint8
}

// subscriber is a held /sub poll.
type subscriber struct {
	id    string
	since uint64
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
	fire    func(int) // w.onFire bound once, so Advance does not allocate

	spill map[int][]byte // unparsed input: partial head or pipelined requests
	outq  map[int][]byte // unsent output
	subs  map[int]subscriber
	byID  map[string]int // id -> fd of the most recent held poll for it (last one wins)

	store *pushstore.Store
	rng   *rand.Rand
	rbuf  []byte
	cbuf  []byte // control packets
	wbuf  []byte // building message answers
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
		spill: map[int][]byte{}, outq: map[int][]byte{}, subs: map[int]subscriber{}, byID: map[string]int{},
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

func (s *worker) buildFixed() {
	for k := 0; k < 2; k++ {
		for h := 0; h < 2; h++ {
			s.okResp[k][h] = httpwire.AppendResponse(nil, 200, nil, []byte("ok\n"), k == 1, h == 1)
			s.emptyResp[k][h] = httpwire.AppendResponse(nil, 200, nil, nil, k == 1, h == 1)
		}
	}
	for _, st := range []int{400, 405, 408, 413, 431, 503} {
		s.errResp[st] = httpwire.AppendResponse(nil, st, nil, nil, false, false)
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

// ---- accept ----

func (s *worker) onListener(ev netpoll.EpollEvent) {
	if ev&netloop.Closed != 0 || !s.listening {
		return
	}
	for i := 0; i < AcceptBatch; i++ {
		fd, err := netloop.Accept(s.lfd)
		if err != nil {
			switch {
			case errors.Is(err, unix.EAGAIN):
			case errors.Is(err, unix.EMFILE), errors.Is(err, unix.ENFILE), errors.Is(err, unix.ENOBUFS), errors.Is(err, unix.ENOMEM):
				s.pauseAccept(err)
			default:
				// ECONNABORTED and friends concern one connection only.
				continue
			}
			return
		}
		s.inEpisode = false
		s.addConn(fd)
	}
}

// pauseAccept stops watching the listener for EmfileBackoff: the pending connection would keep it readable and
// the loop would spin.
func (s *worker) pauseAccept(err error) {
	if !s.inEpisode {
		s.inEpisode = true
		s.slot.Add(stats.EmfilePauses, 1)
		s.logLimited("accept", err)
	}
	s.loop.Del(s.lfd)
	s.listening = false
	s.paused = true
	ts := unix.NsecToTimespec(int64(EmfileBackoff))
	unix.TimerfdSettime(s.pauseTimer, 0, &unix.ItimerSpec{Value: ts}, nil)
}

func (s *worker) onPauseTimer(ev netpoll.EpollEvent) {
	if ev&netloop.Closed != 0 {
		return
	}
	var b [8]byte
	unix.Read(s.pauseTimer, b[:])
	if !s.paused || s.draining {
		return
	}
	s.paused = false
	if err := s.loop.Add(s.lfd, netloop.In|epollExcl, s.onListener); err != nil {
		s.logLimited("listener", err)
		return
	}
	s.listening = true
}

func (s *worker) addConn(fd int) {
	if fd >= len(s.conns) {
		s.growTables(tableSize(len(s.conns), fd, s.fdLimit))
	}
	// A fresh closure per conn, not one cached per fd: it becomes garbage when the conn closes, so after a mass
	// disconnect nothing of it stays (a cache would keep every fd number's closure at its high-water mark).
	if err := s.loop.Add(fd, connEvents, connCallback(s.reg, fd)); err != nil {
		s.logLimited("add", err)
		unix.Close(fd)
		return
	}
	s.conns[fd] = conn{state: stIdle}
	s.live++
	s.churn++
	s.churnTick++
	s.slot.Add(stats.Accepted, 1)
	s.slot.Add(stats.Conns, 1)
	s.idle(fd)
}

// tableSize is the new length of a per-fd table of length cur that must cover fd: doubling, but never past
// fdLimit (0: unknown), as no fd reaches the RLIMIT_NOFILE soft limit and slots beyond it would stay dead.
func tableSize(cur, fd, fdLimit int) int {
	n := max(2*cur, 1024)
	for n <= fd {
		n *= 2
	}
	if fd < fdLimit {
		n = min(n, fdLimit)
	}
	return n
}

// sizeTables sizes conns and the wheel's entries for every fd the process may open (up to MaxPrealloc).
// Allocated before any conn, they come from fresh zero pages the runtime does not clear, so a slot costs RSS
// only once its page is used, and their growth never leaves old tables behind as garbage.
func (s *worker) sizeTables() {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY || rl.Cur > wheel.MaxID {
		return // unknown: tables grow by doubling
	}
	s.fdLimit = int(rl.Cur)
	n := min(s.fdLimit, MaxPrealloc)
	if n <= len(s.conns) {
		return
	}
	// conns and the wheel hold no pointers: the GC never reads them, so their untouched pages stay virtual.
	s.conns = make([]conn, n)
	// The wheel has no capacity argument: scheduling its highest id makes it allocate its entries now, once.
	s.wheel.ScheduleAt(n-1, time.Now())
	s.wheel.Cancel(n - 1)
}

// growTables makes conns cover fds below n (the wheel grows by itself).
func (s *worker) growTables(n int) {
	if n > len(s.conns) {
		conns := make([]conn, n)
		copy(conns, s.conns)
		s.conns = conns
	}
}

// idle waits for the next request on fd.
func (s *worker) idle(fd int) {
	s.conns[fd].state = stIdle
	if s.cfg.IdleTimeout > 0 {
		s.wheel.ScheduleAt(fd, time.Now().Add(s.cfg.IdleTimeout))
	} else {
		s.wheel.Cancel(fd)
	}
}

// ---- connection events ----

// onConn treats events as hints and asks the socket itself: easygo may deliver an event read before this fd was
// closed and reused within the same epoll batch, and reading or flushing a fresh conn is harmless.
func (s *worker) onConn(fd int, ev netpoll.EpollEvent) {
	if ev&netloop.Closed != 0 || fd >= len(s.conns) || s.conns[fd].state == stFree {
		return
	}
	if ev&(netloop.Out|netloop.Err|netloop.Hup) != 0 && s.conns[fd].flags&fOut != 0 {
		if !s.flush(fd) {
			return
		}
	}
	if ev&(netloop.In|netloop.RdHup|netloop.Hup|netloop.Err) != 0 {
		s.readAll(fd, ev&(netloop.RdHup|netloop.Hup|netloop.Err) != 0)
	}
}

// readAll reads what fd has (edge-triggered). A short read means the receive queue was empty at that moment and
// any later data raises a new edge, so the read that would only say EAGAIN is skipped, one syscall per request
// saved; unless the event reported a hang-up or error (toEOF): then reading goes on to see EOF or the error.
func (s *worker) readAll(fd int, toEOF bool) {
	for s.conns[fd].state != stFree {
		n, err := unix.Read(fd, s.rbuf)
		if err != nil {
			switch err {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return
			case unix.ECONNRESET:
				s.slot.Add(stats.Resets, 1)
			}
			s.close(fd)
			return
		}
		if n == 0 {
			s.close(fd) // EOF: half-close or close; nobody will read an answer we might still owe
			return
		}
		s.slot.Add(stats.BytesIn, int64(n))
		s.input(fd, s.rbuf[:n])
		if n < len(s.rbuf) && !toEOF {
			return
		}
	}
}

// input handles bytes just read (data aliases the shared buffer).
func (s *worker) input(fd int, data []byte) {
	c := &s.conns[fd]
	switch {
	case c.state == stClosing:
		return // the final answer is on its way; ignore what follows it
	case c.flags&fSpill != 0:
		buf := append(s.spill[fd], data...)
		s.spill[fd] = buf
		if c.state == stIdle || c.state == stHead {
			s.serveSpill(fd)
		}
		s.checkSpill(fd)
	case c.state == stIdle || c.state == stHead:
		rest := s.serve(fd, data)
		if len(rest) > 0 && s.conns[fd].state != stFree && s.conns[fd].state != stClosing {
			s.spill[fd] = append([]byte(nil), rest...)
			s.conns[fd].flags |= fSpill
			s.checkSpill(fd)
		}
	default: // held: keep the pipelined bytes for later
		s.spill[fd] = append([]byte(nil), data...)
		c.flags |= fSpill
		s.checkSpill(fd)
	}
}

func (s *worker) checkSpill(fd int) {
	if s.conns[fd].flags&fSpill != 0 && len(s.spill[fd]) > MaxPipelined {
		s.slot.Add(stats.PipelineCloses, 1)
		s.close(fd)
	}
}

// serveSpill parses from the spill buffer; what stays unparsed stays in it.
func (s *worker) serveSpill(fd int) {
	buf := s.spill[fd]
	rest := s.serve(fd, buf)
	c := &s.conns[fd]
	if c.state == stFree || c.flags&fSpill == 0 {
		return
	}
	if len(rest) == 0 || c.state == stClosing {
		delete(s.spill, fd)
		c.flags &^= fSpill
		return
	}
	s.spill[fd] = rest
}

// serve parses and handles requests from data while fd waits for one, and returns the bytes not consumed.
func (s *worker) serve(fd int, data []byte) []byte {
	for len(data) > 0 {
		c := &s.conns[fd]
		if c.state != stIdle && c.state != stHead {
			return data
		}
		req, headLen, err := httpwire.ParseRequest(data)
		if err == httpwire.ErrIncomplete {
			if c.state == stIdle {
				if s.heads >= s.cfg.MaxHeads {
					s.fail(fd, 503)
					return nil
				}
				c.state = stHead
				s.heads++
				s.slot.Add(stats.Heads, 1)
				s.wheel.ScheduleAt(fd, time.Now().Add(s.cfg.HeaderTimeout))
			}
			return data
		}
		s.leaveHead(fd)
		if err != nil {
			status := 400
			var herr *httpwire.Error
			if errors.As(err, &herr) && herr.Status != 0 {
				status = herr.Status
			}
			s.fail(fd, status)
			return nil
		}
		data = data[headLen:]
		s.handle(fd, &req)
	}
	if s.conns[fd].state == stIdle {
		s.idle(fd) // every request so far answered: the idle timer runs from now
	}
	return data
}

func (s *worker) leaveHead(fd int) {
	if s.conns[fd].state == stHead {
		s.conns[fd].state = stIdle
		s.heads--
		s.slot.Add(stats.Heads, -1)
	}
}

// fail answers an error status and closes.
func (s *worker) fail(fd int, status int) {
	switch status {
	case 400:
		s.slot.Add(stats.Err400, 1)
	case 405:
		s.slot.Add(stats.Err405, 1)
	case 408:
		s.slot.Add(stats.Err408, 1)
	case 413:
		s.slot.Add(stats.Err413, 1)
	case 431:
		s.slot.Add(stats.Err431, 1)
	case 503:
		s.slot.Add(stats.Err503, 1)
	default:
		status = 400
		s.slot.Add(stats.Err400, 1)
	}
	s.leaveHead(fd)
	s.wheel.Cancel(fd)
	s.send(fd, s.errResp[status], true)
}

// handle starts a parsed request: hold it, or answer at once.
func (s *worker) handle(fd int, req *httpwire.Request) {
	c := &s.conns[fd]
	c.flags &^= fKeep | fHeadOnly | fSub
	if req.KeepAlive && !s.draining {
		c.flags |= fKeep
	}
	if req.Method == httpwire.MethodHEAD {
		c.flags |= fHeadOnly
	}
	if isSub(req.Target) {
		s.handleSub(fd, req.Target)
		return
	}
	hold := s.cfg.DrawHold(s.rng)
	if hold <= 0 || s.draining {
		s.answer(fd, s.okResp[b2i(c.flags&fKeep != 0)][b2i(c.flags&fHeadOnly != 0)])
		return
	}
	c.state = stHeld
	s.slot.Add(stats.Held, 1)
	// ScheduleAt from the real clock: Schedule counts from the last tick and could answer up to a tick early.
	s.wheel.ScheduleAt(fd, time.Now().Add(hold))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// isSub reports whether target's path is exactly /sub.
func isSub(target []byte) bool {
	return len(target) >= 4 && string(target[:4]) == "/sub" && (len(target) == 4 || target[4] == '?' || target[4] == '#')
}

func (s *worker) handleSub(fd int, target []byte) {
	id, ok := httpwire.Query(target, "id")
	if !ok || len(id) == 0 {
		s.fail(fd, 400)
		return
	}
	var since uint64
	if v, ok := httpwire.Query(target, "since"); ok && len(v) > 0 {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			s.fail(fd, 400)
			return
		}
		since = n
	}
	if m, ok := s.store.Next(id, since); ok {
		s.slot.Add(stats.PushDelivered, 1)
		s.answer(fd, s.messageResp(&m, s.conns[fd].flags))
		return
	}
	c := &s.conns[fd]
	c.state = stHeld
	c.flags |= fSub
	sub := subscriber{id: string(id), since: since}
	s.subs[fd] = sub
	s.byID[sub.id] = fd
	s.slot.Add(stats.Held, 1)
	hold := s.cfg.DrawHold(s.rng)
	s.wheel.ScheduleAt(fd, time.Now().Add(max(hold, s.cfg.Tick)))
}

// messageResp returns the answer carrying m for a request with the given flags; the four variants of the most
// recent message are cached, so a broadcast builds its answer once, not once per subscriber.
func (s *worker) messageResp(m *pushstore.Message, flags uint8) []byte {
	if s.msgOf != m.Seq {
		kind := "pub"
		if m.Broadcast {
			kind = "broadcast"
		}
		hdr := [][2]string{{"X-Seq", strconv.FormatUint(m.Seq, 10)}, {"X-Pub-Time", strconv.FormatInt(m.PubNanos, 10)}, {"X-Kind", kind}}
		for v := 0; v < 4; v++ {
			s.msg[v] = httpwire.AppendResponse(s.msg[v][:0], 200, hdr, m.Body, v&1 != 0, v&2 != 0)
		}
		s.msgOf = m.Seq
	}
	return s.msg[b2i(flags&fKeep != 0)|b2i(flags&fHeadOnly != 0)<<1]
}

// unhold takes fd out of the held state (gauges, subscriber maps).
func (s *worker) unhold(fd int) {
	c := &s.conns[fd]
	if c.state != stHeld {
		return
	}
	c.state = stIdle
	s.slot.Add(stats.Held, -1)
	s.wheel.Cancel(fd)
	if c.flags&fSub != 0 {
		sub := s.subs[fd]
		delete(s.subs, fd)
		if s.byID[sub.id] == fd {
			delete(s.byID, sub.id)
		}
		c.flags &^= fSub
	}
}

// answer sends the answer of the current request; the conn is left waiting for its next request unless the
// answer closes it. It does not parse further input: serve's loop or resume does.
func (s *worker) answer(fd int, resp []byte) {
	keep := s.conns[fd].flags&fKeep != 0 && !s.draining
	s.slot.Add(stats.Responses, 1)
	if s.send(fd, resp, !keep) && keep {
		s.conns[fd].state = stIdle
	}
}

// answerHeld answers a held request (timer, push or drain) and goes on with pipelined input.
func (s *worker) answerHeld(fd int, resp []byte) {
	s.unhold(fd)
	s.answer(fd, resp)
	if s.conns[fd].state != stIdle {
		return
	}
	if s.conns[fd].flags&fSpill != 0 {
		s.serveSpill(fd)
		return
	}
	s.idle(fd)
}

// send writes b, queueing what the socket does not take; closeAfter closes fd once everything is written.
// It returns false if fd was closed.
func (s *worker) send(fd int, b []byte, closeAfter bool) bool {
	c := &s.conns[fd]
	if c.flags&fOut != 0 {
		q := s.outq[fd]
		if len(q)+len(b) > MaxOutQueue {
			s.slot.Add(stats.SlowCloses, 1)
			s.close(fd)
			return false
		}
		s.outq[fd] = append(q, b...)
	} else {
		n, ok := s.writeOrClose(fd, b)
		if !ok {
			return false
		}
		if n < len(b) {
			s.outq[fd] = append([]byte(nil), b[n:]...)
			c.flags |= fOut
			s.loop.Mod(fd, connEvents|netloop.Out)
		}
	}
	if closeAfter {
		if c.flags&fOut == 0 {
			s.close(fd)
			return false
		}
		s.wheel.Cancel(fd)
		c.state = stClosing
	}
	return true
}

// writeOrClose writes what the socket takes now; a write error other than EAGAIN closes fd (ok = false).
func (s *worker) writeOrClose(fd int, b []byte) (n int, ok bool) {
	n, err := write(fd, b)
	if err != nil && err != unix.EAGAIN {
		if err == unix.ECONNRESET {
			s.slot.Add(stats.Resets, 1)
		}
		s.close(fd)
		return 0, false
	}
	s.slot.Add(stats.BytesOut, int64(n))
	return n, true
}

func write(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

// flush writes queued output; false if fd was closed.
func (s *worker) flush(fd int) bool {
	q := s.outq[fd]
	n, ok := s.writeOrClose(fd, q)
	if !ok {
		return false
	}
	if n < len(q) {
		s.outq[fd] = q[n:]
		return true
	}
	delete(s.outq, fd)
	c := &s.conns[fd]
	c.flags &^= fOut
	if c.state == stClosing {
		s.close(fd)
		return false
	}
	s.loop.Mod(fd, connEvents)
	return true
}

// close releases everything fd holds; Del comes before Close so a reused fd number never meets this conn's state.
func (s *worker) close(fd int) {
	c := &s.conns[fd]
	if c.state == stFree {
		return
	}
	switch c.state {
	case stHeld:
		s.unhold(fd)
	case stHead:
		s.leaveHead(fd)
	}
	s.wheel.Cancel(fd)
	if c.flags&fSpill != 0 {
		delete(s.spill, fd)
	}
	if c.flags&fOut != 0 {
		delete(s.outq, fd)
	}
	*c = conn{}
	s.loop.Del(fd)
	unix.Close(fd)
	s.live--
	s.churn++
	s.churnTick++
	s.slot.Add(stats.Conns, -1)
	if s.draining && s.live == 0 {
		s.finish()
	}
}

// ---- timers ----

func (s *worker) onTick() {
	now := time.Now()
	s.slot.Beat(now)
	s.wheel.Advance(now, s.fire)
	if s.draining && !s.finished && now.After(s.drainBy) {
		for fd := range s.conns {
			if s.conns[fd].state != stFree {
				s.close(fd)
			}
		}
		s.finish()
	}
	s.maybeFreeMemory(now)
}

// maybeFreeMemory hands freed heap back to the OS once a ramp or a mass disconnect is over (no accepts or
// closes for FreeQuiet), so PSS follows the conn count: table growth and easygo's map and event buffers leave
// garbage that the background scavenger would keep for a long time. Rare by construction: it needs
// FreeAfterChurn accepts+closes since the last time, and at most one per 5 s.
func (s *worker) maybeFreeMemory(now time.Time) {
	if s.churnTick > 0 {
		s.churnTick = 0
		s.lastChurn = now
		return
	}
	if s.churn < FreeAfterChurn || now.Sub(s.lastChurn) < FreeQuiet || now.Sub(s.lastFree) < 5*time.Second {
		return
	}
	s.churn = 0
	s.lastFree = now
	// Go maps never shrink: start empty side maps afresh after a burst of partial heads or slow readers.
	if len(s.spill) == 0 {
		s.spill = map[int][]byte{}
	}
	if len(s.outq) == 0 {
		s.outq = map[int][]byte{}
	}
	debug.FreeOSMemory()
}

func (s *worker) onFire(fd int) {
	c := &s.conns[fd]
	switch c.state {
	case stIdle:
		s.slot.Add(stats.IdleTimeouts, 1)
		s.send(fd, s.errResp[408], true)
	case stHead:
		s.fail(fd, 408)
	case stHeld:
		if c.flags&fSub != 0 {
			s.answerHeld(fd, s.emptyResp[b2i(c.flags&fKeep != 0)][b2i(c.flags&fHeadOnly != 0)])
		} else {
			s.answerHeld(fd, s.okResp[b2i(c.flags&fKeep != 0)][b2i(c.flags&fHeadOnly != 0)])
		}
	}
}

// ---- control ----

func (s *worker) onControl(ev netpoll.EpollEvent) {
	if ev&netloop.Closed != 0 || s.cfd < 0 {
		return
	}
	for {
		n, err := unix.Read(s.cfd, s.cbuf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			if err != nil {
				s.logLimited("control", err)
			}
			s.loop.Del(s.cfd)
			s.cfd = -1
			s.startDrain("control closed")
			return
		}
		m, err := control.Decode(s.cbuf[:n])
		if err != nil {
			s.logLimited("control", err)
			continue
		}
		switch m.Kind {
		case control.Publish, control.Broadcast:
			answered := s.push(&m)
			ack, _ := control.Append(s.wbuf[:0], control.Message{Kind: control.Ack, Seq: m.Seq, Answered: answered})
			s.wbuf = ack
			if _, err := write(s.cfd, ack); err != nil {
				s.logLimited("ack", err)
			}
		case control.Drain:
			s.startDrain("drain requested")
		}
	}
}

// push stores a message and answers the held subscribers it is for; it returns how many it answered.
func (s *worker) push(cm *control.Message) uint64 {
	m := pushstore.FromControl(cm)
	s.store.Add(m)
	var answered uint64
	deliver := func(fd int) {
		sub := s.subs[fd]
		msg, ok := s.store.Next([]byte(sub.id), sub.since)
		if !ok {
			return
		}
		resp := s.messageResp(&msg, s.conns[fd].flags)
		answered++
		s.slot.Add(stats.PushDelivered, 1)
		s.answerHeld(fd, resp)
	}
	if !m.Broadcast {
		if fd, ok := s.byID[m.ID]; ok && s.conns[fd].state == stHeld && s.conns[fd].flags&fSub != 0 {
			deliver(fd)
		}
		return answered
	}
	for fd := range s.conns {
		if c := s.conns[fd]; c.state == stHeld && c.flags&fSub != 0 {
			deliver(fd)
		}
	}
	return answered
}

// ---- drain ----

func (s *worker) startDrain(why string) {
	if s.draining {
		return
	}
	s.draining = true
	s.drainBy = time.Now().Add(s.cfg.DrainTimeout)
	s.log.WithField("reason", why).Info("netpoll worker draining")
	if s.listening {
		s.loop.Del(s.lfd)
		s.listening = false
	}
	s.paused = false
	unix.Close(s.lfd)
	for fd := range s.conns {
		c := &s.conns[fd]
		switch c.state {
		case stHeld:
			c.flags &^= fKeep
			if c.flags&fSub != 0 {
				s.answerHeld(fd, s.emptyResp[0][b2i(c.flags&fHeadOnly != 0)])
			} else {
				s.answerHeld(fd, s.okResp[0][b2i(c.flags&fHeadOnly != 0)])
			}
		case stIdle, stHead:
			if c.flags&fOut != 0 {
				s.wheel.Cancel(fd)
				s.leaveHead(fd)
				c.state = stClosing
			} else {
				s.close(fd)
			}
		}
	}
	if s.live == 0 {
		s.finish()
	}
}

func (s *worker) finish() {
	if s.finished {
		return
	}
	s.finished = true
	close(s.done)
}
