// Drain: stop accepting, answer every held request, close and return.

package netpoll

import (
	"time"

	"golang.org/x/sys/unix"
)

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
