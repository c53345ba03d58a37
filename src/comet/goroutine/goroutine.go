// Package goroutine is comet's goroutine engine: the conventional Go server the netpoll engine is measured against.
// It is net/http on the inherited listener, one goroutine per connection (plus net/http's background reader while a
// request is held), and one Go timer per held request. The wire behaviour follows docs/interfaces.md so flood, the
// admin /stats and the behaviour suite (src/testkit/enginetest) treat both engines alike.
//
// Differences net/http imposes, kept on purpose so the baseline stays idiomatic:
//   - a head not complete within -header-timeout, and an idle keep-alive connection past -idle-timeout, are closed
//     without a 408 (net/http writes nothing); they are still counted as err_408 / idle_timeouts, from the
//     connection's state when it closes;
//   - -max-heads has no net/http equivalent: no 503 is ever sent;
//   - malformed heads and heads over 64 KiB are answered by net/http itself (400 / 431; 501 for a transfer coding
//     other than chunked, 505 for a major version other than 1); they are counted by recognising net/http's own
//     error responses on the connection. The 8 KiB head limit (414 / 431) is the handler's. Where net/http differs
//     from the RFC (docs/conformance.md: 501 where a Transfer-Encoding does not end in chunked, Transfer-Encoding
//     ignored in HTTP/1.0) the conformance suite records it.
package goroutine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/comet-lab/comet-lab/src/lib/httpwire"

	"github.com/comet-lab/comet-lab/src/comet/cometcfg"
	"github.com/comet-lab/comet-lab/src/comet/control"
	"github.com/comet-lab/comet-lab/src/comet/pushstore"
	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/sirupsen/logrus"
)

// engine is one worker's state.
type engine struct {
	cfg  cometcfg.Config
	slot stats.Slot
	log  *logrus.Logger

	draining chan struct{} // closed when the drain starts: every held request answers at once
	drainOne sync.Once

	mu      sync.Mutex
	store   *pushstore.Store
	waiters map[string]map[*waiter]struct{} // held /sub requests by id ("" = broadcasts only)
}

// waiter is one held /sub request. deliver is buffered so a publisher never blocks; a waiter is removed from
// engine.waiters before its message is sent, so it receives at most one.
type waiter struct {
	id      string
	deliver chan pushstore.Message
}

// RunWorker serves cfg's wire behaviour on w.ListenFD until a drain (SIGTERM/SIGINT, a Drain packet or EOF on
// w.ControlFD) has answered every held request and closed every connection.
func RunWorker(cfg cometcfg.Config, w cometcfg.Worker) error {
	if w.Log == nil {
		w.Log = logrus.StandardLogger()
	}
	lf := os.NewFile(uintptr(w.ListenFD), "comet-listener")
	if lf == nil {
		return fmt.Errorf("baseline: listener fd %d is not valid", w.ListenFD)
	}
	ln, err := net.FileListener(lf)
	lf.Close() // FileListener holds its own dup
	if err != nil {
		return fmt.Errorf("baseline: listener fd %d: %w", w.ListenFD, err)
	}
	e := &engine{
		cfg:      cfg,
		slot:     w.Slot,
		log:      w.Log,
		draining: make(chan struct{}),
		store:    pushstore.New(cfg.Keep),
		waiters:  make(map[string]map[*waiter]struct{}),
	}
	e.slot.Started(time.Now())

	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: cfg.HeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout, // 0: net/http falls back to ReadTimeout, also 0 = never, as the flag says
		MaxHeaderBytes:    netHTTPHead - netHTTPSlack,
		ConnState:         e.connState,
		ErrorLog:          log.New(w.Log.WriterLevel(logrus.WarnLevel), "net/http: ", 0),
	}

	stopBeat := e.heartbeat()
	defer stopBeat()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	ctl := e.startControl(w.ControlFD)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(&countingListener{Listener: ln, e: e}) }()
	w.Log.WithFields(logrus.Fields{"worker": w.Index, "engine": cometcfg.EngineGoroutine, "pid": os.Getpid()}).Info("worker serving")

	select {
	case err := <-served:
		e.startDrain()
		return fmt.Errorf("baseline: serve: %w", err)
	case sig := <-sigs:
		w.Log.WithField("signal", sig.String()).Info("worker draining")
	case <-ctl.drain:
		w.Log.Info("worker draining on master request")
	}
	return e.drain(srv, served)
}

// drain stops accepting, answers every held request at once and waits for connections to close.
func (e *engine) drain(srv *http.Server, served <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.DrainTimeout)
	defer cancel()
	// Release held requests first: their answers carry "Connection: close" (see closeIfDraining), so their
	// connections end; Shutdown then closes the idle ones and waits for the rest.
	e.startDrain()
	err := srv.Shutdown(ctx)
	<-served
	if errors.Is(err, context.DeadlineExceeded) {
		// net/http keeps connections that never sent a request open for up to 5 s; every held request was answered.
		left := e.slot.Get(stats.Conns)
		srv.Close()
		e.log.WithField("conns_closed", left).Warn("drain timeout: closed remaining connections")
		return nil
	}
	if err != nil {
		return fmt.Errorf("baseline: shutdown: %w", err)
	}
	e.log.Info("worker drained")
	return nil
}

// closeIfDraining ends the connection after this answer once a drain has begun.
func (e *engine) closeIfDraining(h http.Header) {
	select {
	case <-e.draining:
		h.Set("Connection", "close")
	default:
	}
}

func (e *engine) startDrain() { e.drainOne.Do(func() { close(e.draining) }) }

// heartbeat beats every second (stats.Slot.Beat).
func (e *engine) heartbeat() (stop func()) {
	t := time.NewTicker(time.Second)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case now := <-t.C:
				e.slot.Beat(now)
			case <-done:
				t.Stop()
				return
			}
		}
	}()
	return func() { close(done) }
}

// ServeHTTP is every request: held GET/HEAD, /sub push, or an error answer.
func (e *engine) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if status := e.check(r); status != 0 {
		e.fail(rw, status)
		return
	}
	var wt *waiter
	if r.URL.Path == "/sub" {
		q := r.URL.Query()
		since, err := parseSince(q.Get("since"))
		if err != nil {
			e.fail(rw, http.StatusBadRequest)
			return
		}
		id := q.Get("id")
		e.mu.Lock()
		if m, gap, ok := e.store.Next([]byte(id), since); ok {
			e.mu.Unlock()
			if gap.Oldest != 0 {
				rw.Header().Set(httpwire.OldestSeqHeader, strconv.FormatUint(gap.Oldest, 10))
				e.slot.Add(stats.PushGaps, 1)
				e.slot.Add(stats.PushMissed, int64(gap.Missed))
			}
			e.answerMessage(rw, m)
			return
		}
		wt = &waiter{id: id, deliver: make(chan pushstore.Message, 1)}
		e.addWaiter(wt)
		e.mu.Unlock()
	}
	e.hold(rw, r, wt)
}

// hold keeps the request until its random deadline, a pushed message, a drain or the client leaving.
func (e *engine) hold(rw http.ResponseWriter, r *http.Request, wt *waiter) {
	e.slot.Add(stats.Held, 1)
	defer e.slot.Add(stats.Held, -1)
	timer := time.NewTimer(e.cfg.DrawHold(nil))
	defer timer.Stop()
	var deliver chan pushstore.Message
	if wt != nil {
		deliver = wt.deliver
	}
	select {
	case m := <-deliver:
		e.answerMessage(rw, m)
		return
	case <-timer.C:
	case <-e.draining:
	case <-r.Context().Done():
		// The client went away: nothing to answer. A message already handed to this waiter is lost with it,
		// exactly as it would be on the wire.
		e.dropWaiter(wt)
		return
	}
	if wt != nil {
		if !e.dropWaiter(wt) {
			// A publisher took this waiter between the wake-up and the lock: its message is in the channel.
			e.answerMessage(rw, <-wt.deliver)
			return
		}
		e.answer(rw, nil) // a /sub poll without a message gets the empty 200
		return
	}
	e.answer(rw, okBody)
}

func parseSince(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

var okBody = []byte("ok\n")

// answer writes the plain 200 of a hold that ran out (body "ok\n", or empty for /sub).
func (e *engine) answer(rw http.ResponseWriter, body []byte) {
	h := rw.Header()
	h["Content-Type"] = nil // no sniffing, no header: same bytes as the netpoll engine
	h.Set("Content-Length", strconv.Itoa(len(body)))
	e.closeIfDraining(h)
	rw.WriteHeader(http.StatusOK)
	rw.Write(body)
	e.slot.Add(stats.Responses, 1)
}

func (e *engine) answerMessage(rw http.ResponseWriter, m pushstore.Message) {
	h := rw.Header()
	h["Content-Type"] = nil
	h.Set("Content-Length", strconv.Itoa(len(m.Body)))
	h.Set("X-Seq", strconv.FormatUint(m.Seq, 10))
	h.Set("X-Pub-Time", strconv.FormatInt(m.PubNanos, 10))
	kind := "pub"
	if m.Broadcast {
		kind = "broadcast"
	}
	h.Set("X-Kind", kind)
	e.closeIfDraining(h)
	rw.WriteHeader(http.StatusOK)
	rw.Write(m.Body)
	e.slot.Add(stats.Responses, 1)
	e.slot.Add(stats.PushDelivered, 1)
}

// addWaiter registers wt; the caller holds e.mu.
func (e *engine) addWaiter(wt *waiter) {
	set := e.waiters[wt.id]
	if set == nil {
		set = make(map[*waiter]struct{})
		e.waiters[wt.id] = set
	}
	set[wt] = struct{}{}
}

// dropWaiter unregisters wt and reports whether it was still registered (false: a publisher already took it).
func (e *engine) dropWaiter(wt *waiter) bool {
	if wt == nil {
		return true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	set := e.waiters[wt.id]
	if _, ok := set[wt]; !ok {
		return false
	}
	delete(set, wt)
	if len(set) == 0 {
		delete(e.waiters, wt.id)
	}
	return true
}

// publish stores m and hands it to the held subscribers it is for; it returns how many it answered.
func (e *engine) publish(m pushstore.Message) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.store.Add(m)
	var answered uint64
	take := func(id string) {
		for wt := range e.waiters[id] {
			wt.deliver <- m
			answered++
		}
		delete(e.waiters, id)
	}
	if m.Broadcast {
		for id := range e.waiters {
			take(id)
		}
	} else {
		take(m.ID)
	}
	return answered
}

// connState keeps the conns gauge and classifies net/http's silent timeouts (see the package comment).
func (e *engine) connState(c net.Conn, state http.ConnState) {
	tc, _ := c.(*trackedConn)
	switch state {
	case http.StateNew:
		e.slot.Add(stats.Conns, 1)
		e.slot.Add(stats.Accepted, 1)
	case http.StateIdle:
		if tc != nil {
			tc.idleSince.Store(time.Now().UnixNano())
			tc.served.Store(true)
		}
	case http.StateActive:
		if tc != nil {
			tc.idleSince.Store(0)
		}
	case http.StateClosed, http.StateHijacked:
		e.slot.Add(stats.Conns, -1)
		if tc == nil {
			return
		}
		now := time.Now()
		if since := tc.idleSince.Load(); since != 0 && e.cfg.IdleTimeout > 0 &&
			now.Sub(time.Unix(0, since)) >= e.cfg.IdleTimeout {
			e.slot.Add(stats.IdleTimeouts, 1)
		} else if !tc.served.Load() && now.Sub(tc.born) >= e.cfg.HeaderTimeout && !tc.answered.Load() {
			e.slot.Add(stats.Err408, 1)
		}
	}
}

// controlLoop is the worker side of the master's control socket.
type controlLoop struct {
	drain chan struct{}
}

// startControl reads publish/broadcast/drain packets from fd (-1: no master) and acks each message.
func (e *engine) startControl(fd int) *controlLoop {
	cl := &controlLoop{drain: make(chan struct{})}
	if fd < 0 {
		return cl
	}
	f := os.NewFile(uintptr(fd), "comet-control")
	go func() {
		defer close(cl.drain)
		buf := make([]byte, control.MaxPacket)
		var out []byte
		for {
			n, err := f.Read(buf)
			if err != nil || n == 0 {
				// EOF: the master is gone or wants a drain; any other error leaves the worker unmanaged, so drain too.
				return
			}
			drain := false
			out, err = control.Handle(buf[:n], out, func(msg *control.Message) uint64 {
				m := pushstore.FromControl(msg)
				m.Body = bytes.Clone(m.Body) // handed to waiters as well as stored; the packet buffer is reused
				return e.publish(m)
			}, func() { drain = true })
			if err != nil {
				e.log.WithError(err).Error("control: bad packet ignored")
			}
			if len(out) > 0 {
				if _, err := f.Write(out); err != nil {
					e.log.WithError(err).Error("control: ack not sent")
				}
			}
			if drain {
				return
			}
		}
	}()
	return cl
}
