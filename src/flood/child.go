package flood

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/mailru/easygo/netpoll"
	"golang.org/x/sys/unix"

	"github.com/comet-lab/comet-lab/src/lib/httpwire"
	"github.com/comet-lab/comet-lab/src/lib/netloop"
)

// Slot states.
const (
	slotFree uint8 = iota
	slotConnecting
	slotEstablished
)

const (
	tickEvery     = 100 * time.Millisecond
	readBufSize   = 64 << 10
	maxPortSkips  = 64      // EADDRINUSE/EADDRNOTAVAIL retries per pump, so a full range cannot spin the loop
	maxSeqsKept   = 100_000 // distinct seqs counted in push_per_seq; more count in push_seqs_dropped
	maxPartialLen = httpwire.DefaultMaxHead + 64<<10
)

// slot is the per-fd connection state: 16 bytes, addressed by fd number.
type slot struct {
	state   uint8
	src     uint16 // index into child.srcs
	port    uint16
	answers uint16 // responses on this socket, saturating (fits the struct's padding: still 16 bytes)
	conn    uint32 // logical connection number (stable across re-dials; names the push id)
	sentMs  uint32 // when the outstanding request was written, ms since child start
}

// child runs one process's share of connections. Every field is owned by the loop goroutine.
type child struct {
	plan    Plan
	loop    *netloop.Loop
	dst     [4]byte
	dstPort int
	srcs    [][4]byte
	pools   []portPool
	nextSrc int
	start   time.Time

	slots    []slot
	handlers []func(netpoll.EpollEvent) // one closure per fd number, made once and reused with the number
	partial  map[int][]byte             // unparsed tail of a response split across reads
	readBuf  []byte                     // shared by all connections
	reqBuf   []byte                     // scratch for push requests
	plainReq []byte
	pushReq  []byte   // request up to the id number: "GET /sub?id=c<proc>-"
	lastSeq  []uint64 // per connection: comet's last seq seen; nchan's last message id (msgID)
	nchan    bool     // -proto nchan

	nextNew    int      // connections 0..nextNew-1 have been dialed at least once
	redial     []uint32 // connection numbers to dial now
	retryLater []uint32 // connection numbers whose connect failed: retried from the next tick
	tokens     float64
	perTick    float64 // tokens added per tick; 0 = unlimited
	stopping   bool

	rep        ChildReport
	holdHist   *HoldHist
	pushHist   *LatHist
	pushPerSeq *seqTallies
}

func newChild(p Plan) (*child, error) {
	if err := ValidatePlan(p); err != nil {
		return nil, err
	}
	c := &child{plan: p, start: time.Now(), partial: map[int][]byte{}, readBuf: make([]byte, readBufSize),
		holdHist: NewHoldHist(), pushHist: NewLatHist(), pushPerSeq: newSeqTallies(maxSeqsKept)}
	c.dst, c.dstPort, _ = netloop.ParseAddr4(p.Target)
	c.nchan = p.Proto == ProtoNchan
	for _, s := range p.Sources {
		v, _ := parseIPv4(s.Addr)
		c.srcs = append(c.srcs, [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		c.pools = append(c.pools, newPortPool(s.PortLo, s.PortHi))
	}
	c.plainReq = []byte("GET " + p.Path + " HTTP/1.1\r\nHost: " + p.Target + "\r\n\r\n")
	c.pushReq = []byte("GET /sub?id=c" + strconv.Itoa(p.Proc) + "-")
	if p.Push {
		c.lastSeq = make([]uint64, p.Conns)
	}
	if p.Rate > 0 {
		c.perTick = p.Rate * tickEvery.Seconds()
		c.tokens = min(c.perTick, 1) // start at once, without a burst
	}
	c.slots = make([]slot, p.Conns+64)
	c.handlers = make([]func(netpoll.EpollEvent), p.Conns+64)
	c.rep = ChildReport{Proc: p.Proc, ConnectErrors: map[string]uint64{}}
	return c, nil
}

// msAt is t in ms since the child started (the unit of slot.sentMs).
func (c *child) msAt(t time.Time) uint32 { return uint32(t.Sub(c.start) / time.Millisecond) }

// pump dials while tokens, the inflight limit and waiting connections allow.
func (c *child) pump() {
	skips := 0
	for !c.stopping && c.rep.Connecting < c.plan.Inflight && (c.perTick == 0 || c.tokens >= 1) {
		var conn uint32
		switch {
		case len(c.redial) > 0:
			conn = c.redial[len(c.redial)-1]
		case c.nextNew < c.plan.Conns:
			conn = uint32(c.nextNew)
		default:
			return
		}
		si, port, ok := c.takePort()
		if !ok {
			return // every port busy; a close frees one
		}
		fd, err := netloop.DialFrom(c.srcs[si], port, c.dst, c.dstPort)
		if err != nil {
			c.pools[si].release(port)
			if err != unix.EADDRINUSE {
				// A taken port is routine (TIME_WAIT, another process) and only counts as a skip.
				c.rep.ConnectErrors[errnoName(err)]++
			}
			if err == unix.EADDRINUSE || err == unix.EADDRNOTAVAIL {
				// The port is tied up outside our bookkeeping (TIME_WAIT, another process): take the next one.
				c.rep.PortSkips++
				if skips++; skips >= maxPortSkips {
					return
				}
				continue
			}
			c.popConn(conn)
			c.spendToken()
			c.retryLater = append(c.retryLater, conn)
			continue
		}
		c.popConn(conn)
		c.spendToken()
		if err := c.register(fd, si, port, conn); err != nil {
			c.rep.ConnectErrors[errnoName(err)]++
			unix.Close(fd)
			c.pools[si].release(port)
			c.retryLater = append(c.retryLater, conn)
		}
	}
}

func (c *child) spendToken() {
	if c.perTick > 0 {
		c.tokens--
	}
}

func (c *child) popConn(conn uint32) {
	if n := len(c.redial); n > 0 && c.redial[n-1] == conn {
		c.redial = c.redial[:n-1]
		return
	}
	c.nextNew++
}

func (c *child) register(fd, si, port int, conn uint32) error {
	if fd >= len(c.slots) {
		n := max(fd+1, len(c.slots)*5/4)
		c.slots = append(c.slots, make([]slot, n-len(c.slots))...)
		c.handlers = append(c.handlers, make([]func(netpoll.EpollEvent), n-len(c.handlers))...)
	}
	if c.handlers[fd] == nil {
		c.handlers[fd] = func(ev netpoll.EpollEvent) { c.onEvent(fd, ev) }
	}
	c.slots[fd] = slot{state: slotConnecting, src: uint16(si), port: uint16(port), conn: conn}
	if err := c.loop.Add(fd, netloop.Out|netloop.In|netloop.RdHup|netloop.Edge, c.handlers[fd]); err != nil {
		c.slots[fd] = slot{}
		return err
	}
	c.rep.Connecting++
	return nil
}

func (c *child) onEvent(fd int, ev netpoll.EpollEvent) {
	if ev&netloop.Closed != 0 || c.stopping {
		return
	}
	s := &c.slots[fd]
	switch s.state {
	case slotConnecting:
		c.rep.Connecting--
		if err := netloop.SockErr(fd); err != nil {
			c.rep.ConnectErrors[errnoName(err)]++
			conn := s.conn
			c.closeFd(fd)
			c.retryLater = append(c.retryLater, conn)
			c.pump()
			return
		}
		s.state = slotEstablished
		c.rep.Established++
		if c.rep.Established > c.rep.PeakEstablished {
			c.rep.PeakEstablished = c.rep.Established
			if c.rep.Established == c.plan.Conns {
				// The ramp's garbage (map growth, epoll_ctl events) is dead now; hand it back once so the
				// held state is what stays resident.
				debug.FreeOSMemory()
			}
		}
		if !c.sendRequest(fd, c.msAt(time.Now())) {
			c.drop(fd)
		} else if ev&(netloop.In|netloop.RdHup|netloop.Hup|netloop.Err) != 0 {
			c.readFrom(fd, ev&(netloop.RdHup|netloop.Hup|netloop.Err) != 0)
		}
		c.pump()
	case slotEstablished:
		if ev&(netloop.In|netloop.RdHup|netloop.Hup|netloop.Err) != 0 {
			c.readFrom(fd, ev&(netloop.RdHup|netloop.Hup|netloop.Err) != 0)
		}
	}
}

// drop closes an established connection and queues its re-dial from a fresh port.
func (c *child) drop(fd int) {
	conn := c.slots[fd].conn
	c.rep.Established--
	c.closeFd(fd)
	c.rep.Reconnects++
	c.redial = append(c.redial, conn)
	c.pump()
}

func (c *child) closeFd(fd int) {
	s := &c.slots[fd]
	c.loop.Del(fd)
	unix.Close(fd)
	c.pools[s.src].release(int(s.port))
	delete(c.partial, fd)
	*s = slot{}
}

func (c *child) onTick() {
	if c.stopping {
		return
	}
	if c.perTick > 0 {
		// Cap the bucket at two ticks so a stalled loop does not turn into a burst.
		c.tokens = min(c.tokens+c.perTick, max(2*c.perTick, 1))
	}
	c.redial = append(c.redial, c.retryLater...)
	c.retryLater = c.retryLater[:0]
	c.pump()
}

// snapshot copies the counters for a report and takes the histograms' counts since the previous one: every
// snapshot must reach the coordinator.
func (c *child) snapshot(final bool) ChildReport {
	r := c.rep
	r.Final = final
	r.ConnectErrors = make(map[string]uint64, len(c.rep.ConnectErrors))
	for k, v := range c.rep.ConnectErrors {
		r.ConnectErrors[k] = v
	}
	r.HoldHist = c.holdHist.Take()
	r.PushHist = c.pushHist.Take()
	if final {
		r.MinAnswers, r.AnsweredConns = c.minAnswers()
		r.PushPerSeq, r.PushMaxMsPerSeq = c.pushPerSeq.export()
	}
	return r
}

// minAnswers is the fewest responses any established connection got, and how many established connections there
// are (the integration test's "every connection answered at least twice").
func (c *child) minAnswers() (least uint64, conns int) {
	for fd := range c.slots {
		st := c.slots[fd].state
		if st == slotFree || st == slotConnecting {
			continue
		}
		a := uint64(c.slots[fd].answers)
		if conns == 0 || a < least {
			least = a
		}
		conns++
	}
	return least, conns
}

// closeAll shuts the loop down and closes every connection (the loop goroutine has exited when Close returns).
func (c *child) closeAll() {
	c.loop.Close()
	for fd := range c.slots {
		if c.slots[fd].state != slotFree {
			unix.Close(fd)
			c.slots[fd] = slot{}
		}
	}
}

// RunChild is the child process: it reads its Plan as the first JSON line on stdin, holds the connections,
// writes ChildReport lines to stdout every plan.ReportMs and a final one on SIGTERM or stdin EOF.
func RunChild(stdin io.Reader, stdout io.Writer) error {
	signal.Ignore(unix.SIGINT) // a terminal's ^C reaches the whole group; the coordinator decides when to stop
	term := make(chan os.Signal, 1)
	signal.Notify(term, unix.SIGTERM)
	defer signal.Stop(term)

	in := bufio.NewReader(stdin)
	line, err := in.ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return fmt.Errorf("flood child: reading plan: %w", err)
	}
	var plan Plan
	if err := json.Unmarshal(line, &plan); err != nil {
		return fmt.Errorf("flood child: decoding plan: %w", err)
	}
	enc := json.NewEncoder(stdout)
	fail := func(err error) error {
		enc.Encode(ChildReport{Proc: plan.Proc, Final: true, Fatal: err.Error()})
		return err
	}
	c, err := newChild(plan)
	if err != nil {
		return fail(err)
	}
	stopProfile, err := startProfile(plan.Proc)
	if err != nil {
		return fail(err)
	}
	defer stopProfile()
	if err := checkSources(c.srcs); err != nil {
		return fail(err)
	}
	stopCh := make(chan struct{}, 1)
	go func() {
		select {
		case <-term:
		case <-eofOf(in):
		}
		stopCh <- struct{}{}
	}()
	return c.run(stopCh, enc)
}

// eofOf signals when r reaches EOF (the coordinator went away or closed our stdin to stop us).
func eofOf(r io.Reader) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		io.Copy(io.Discard, r)
		close(ch)
	}()
	return ch
}

// run drives the loop until stop fires, writing reports with enc; it returns after the final report.
func (c *child) run(stop <-chan struct{}, enc *json.Encoder) error {
	loop, err := netloop.New(nil)
	if err != nil {
		return err
	}
	c.loop = loop
	periodic := make(chan ChildReport, 1)
	final := make(chan ChildReport, 1)
	reportEvery := max(1, c.plan.ReportMs/int(tickEvery/time.Millisecond))
	ticks := 0
	stopTicker, err := loop.Ticker(tickEvery, func() {
		c.onTick()
		// Only this goroutine sends on periodic: an empty buffer takes the report without blocking. When the writer
		// is behind, the report waits for the next tick (its counters are cumulative, its histograms pile up).
		if ticks++; ticks%reportEvery == 0 && !c.stopping && len(periodic) == 0 {
			periodic <- c.snapshot(false)
		}
	})
	if err != nil {
		return err
	}
	defer stopTicker()
	wake, err := loop.Waker(func() {
		if !c.stopping {
			c.stopping = true
			final <- c.snapshot(true)
		}
	})
	if err != nil {
		return err
	}
	start, err := loop.Waker(c.pump)
	if err != nil {
		return err
	}
	start()
	for {
		select {
		case r := <-periodic:
			if err := enc.Encode(r); err != nil {
				return fmt.Errorf("flood child: writing report: %w", err)
			}
		case <-stop:
			wake()
			stop = nil
		case r := <-final:
			select {
			case p := <-periodic: // taken before the final one: its histogram counts are in no other report
				if err := enc.Encode(p); err != nil {
					return fmt.Errorf("flood child: writing report: %w", err)
				}
			default:
			}
			err := enc.Encode(r)
			if c.plan.ExitCloses {
				// The process is about to exit and the kernel closes every socket faster than close(2) one by one.
				return err
			}
			c.closeAll()
			return err
		}
	}
}
