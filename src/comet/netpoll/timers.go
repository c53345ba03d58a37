// Timers: the wheel's tick (fired holds and timeouts, the heartbeat, the drain deadline) and returning memory after churn.

package netpoll

import (
	"runtime/debug"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/stats"
)

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
