// The connection table: per-fd state slots sized to the fd limit, grown on demand, and closing a connection.

package netpoll

import (
	"time"

	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/comet-lab/comet-lab/src/comet/wheel"
	"golang.org/x/sys/unix"
)

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
	s.forgetSub(fd)
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
