// Accepting connections: batches off the shared listener, pausing at the fd limit (EMFILE) without spinning.

package netpoll

import (
	"errors"

	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/comet-lab/comet-lab/src/lib/netloop"
	"github.com/mailru/easygo/netpoll"
	"golang.org/x/sys/unix"
)

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
