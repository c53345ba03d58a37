// Package netloop is the event loop shared by comet's workers and flood's children: one easygo netpoll epoll
// instance driven with raw file descriptors (no net.Conn, no netpoll.Handle, which dups every fd), plus the
// timerfd and eventfd helpers both sides need.
package netloop

import (
	"fmt"
	"time"

	"github.com/mailru/easygo/netpoll"
	"golang.org/x/sys/unix"
)

// Event bits re-exported so callers need not import easygo for the common cases.
const (
	In     = netpoll.EPOLLIN
	Out    = netpoll.EPOLLOUT
	RdHup  = netpoll.EPOLLRDHUP
	Hup    = netpoll.EPOLLHUP
	Err    = netpoll.EPOLLERR
	Edge   = netpoll.EPOLLET
	Closed = netpoll.EpollEvent(0x20) // easygo's _EPOLLCLOSED: the loop is shutting down
)

// Loop is one epoll instance; callbacks run serially on its goroutine and must never block.
type Loop struct {
	ep *netpoll.Epoll
}

// New creates a loop. onError receives epoll_wait errors (nil: ignored).
func New(onError func(error)) (*Loop, error) {
	ep, err := netpoll.EpollCreate(&netpoll.EpollConfig{OnWaitError: onError})
	if err != nil {
		return nil, fmt.Errorf("netloop: epoll_create: %w", err)
	}
	return &Loop{ep: ep}, nil
}

// Add registers fd with the given events; cb runs on the loop goroutine.
func (l *Loop) Add(fd int, ev netpoll.EpollEvent, cb func(netpoll.EpollEvent)) error {
	return l.ep.Add(fd, ev, cb)
}

// Mod changes the events of a registered fd.
func (l *Loop) Mod(fd int, ev netpoll.EpollEvent) error { return l.ep.Mod(fd, ev) }

// Del unregisters fd; call it before unix.Close(fd) so a reused fd number never meets a stale callback.
func (l *Loop) Del(fd int) error { return l.ep.Del(fd) }

// Close stops the loop; registered callbacks receive Closed.
func (l *Loop) Close() error { return l.ep.Close() }

// Ticker calls cb every interval on the loop goroutine (timerfd: no Go timer, no extra goroutine).
func (l *Loop) Ticker(every time.Duration, cb func()) (stop func(), err error) {
	if every <= 0 {
		return nil, fmt.Errorf("netloop: ticker interval must be > 0, got %v", every)
	}
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netloop: timerfd_create: %w", err)
	}
	ts := unix.NsecToTimespec(int64(every))
	if err := unix.TimerfdSettime(fd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netloop: timerfd_settime: %w", err)
	}
	var buf [8]byte
	err = l.ep.Add(fd, netpoll.EPOLLIN, func(ev netpoll.EpollEvent) {
		if ev&Closed != 0 {
			return
		}
		// Drain the expiration count; the count itself is not needed because callers look at the clock.
		for {
			if _, err := unix.Read(fd, buf[:]); err != nil {
				break
			}
		}
		cb()
	})
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netloop: add timerfd: %w", err)
	}
	return func() { l.ep.Del(fd); unix.Close(fd) }, nil
}

// Waker returns a goroutine-safe wake function that makes cb run on the loop goroutine (eventfd).
// Several wakes before cb runs collapse into one call.
func (l *Loop) Waker(cb func()) (wake func(), err error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netloop: eventfd: %w", err)
	}
	var buf [8]byte
	err = l.ep.Add(fd, netpoll.EPOLLIN, func(ev netpoll.EpollEvent) {
		if ev&Closed != 0 {
			return
		}
		unix.Read(fd, buf[:])
		cb()
	})
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netloop: add eventfd: %w", err)
	}
	one := [8]byte{1}
	return func() { unix.Write(fd, one[:]) }, nil
}
