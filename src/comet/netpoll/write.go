// Responding and writing: answers to held and ready requests, partial writes kept until the socket drains.

package netpoll

import (
	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/comet-lab/comet-lab/src/lib/netloop"
	"golang.org/x/sys/unix"
)

// unhold takes fd out of the held state. A subscriber's entries stay until the conn closes or polls another
// id: its next poll, normally for the same id, then costs no allocation and no map insert.
func (s *worker) unhold(fd int) {
	c := &s.conns[fd]
	if c.state != stHeld {
		return
	}
	c.state = stIdle
	s.slot.Add(stats.Held, -1)
	s.wheel.Cancel(fd)
	c.flags &^= fSub
}

// forgetSub drops fd's subscriber entries (fSubEntry).
func (s *worker) forgetSub(fd int) {
	c := &s.conns[fd]
	if c.flags&fSubEntry == 0 {
		return
	}
	id := s.subs[fd]
	delete(s.subs, fd)
	if s.byID[id] == fd {
		delete(s.byID, id)
	}
	c.flags &^= fSubEntry
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
	n, err := netloop.Write(fd, b)
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
