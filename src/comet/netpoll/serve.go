// Reading and serving: a connection's bytes through the request parser, into an answer, a hold or a /sub poll.

package netpoll

import (
	"errors"
	"strconv"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/comet-lab/comet-lab/src/lib/httpwire"
	"github.com/comet-lab/comet-lab/src/lib/netloop"
	"github.com/mailru/easygo/netpoll"
	"golang.org/x/sys/unix"
)

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

// readAll reads what fd has (edge-triggered), stopping after a short read (netloop.Read says why) unless the event
// reported a hang-up or error (toEOF): then reading goes on to see EOF or the error.
func (s *worker) readAll(fd int, toEOF bool) {
	for s.conns[fd].state != stFree {
		n, err := netloop.Read(fd, s.rbuf)
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
	c, ok := stats.StatusCounter(status)
	if !ok {
		status = 400
	}
	s.slot.Add(c, 1)
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
	if m, gap, ok := s.store.Next(id, since); ok {
		s.answer(fd, s.subAnswer(fd, &m, gap))
		return
	}
	c := &s.conns[fd]
	c.state = stHeld
	c.flags |= fSub
	// Held: nothing after since is stored for it, so the next message for it is the one to deliver (push).
	if c.flags&fSubEntry != 0 {
		if old := s.subs[fd]; old == string(id) { // no allocation: the id this conn polled before
			if s.byID[old] != fd {
				s.byID[old] = fd // another conn polled this id meanwhile: the latest poll wins
			}
		} else {
			s.forgetSub(fd)
		}
	}
	if c.flags&fSubEntry == 0 {
		sid := string(id)
		s.subs[fd] = sid
		s.byID[sid] = fd
		c.flags |= fSubEntry
	}
	s.slot.Add(stats.Held, 1)
	hold := s.cfg.DrawHold(s.rng)
	s.wheel.ScheduleAt(fd, time.Now().Add(max(hold, s.cfg.Tick)))
}
