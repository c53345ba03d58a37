package goroutine

// The goroutine engine's view of its connections: accepted through a counting listener, each wrapped to
// know when it went idle, whether it was served, and which of net/http's own error answers it got.

import (
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/stats"
)

// countingListener wraps accepted connections to count bytes and recognise net/http's own error answers.
type countingListener struct {
	net.Listener
	e *engine
}

func (l *countingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
			// Out of descriptors: wait for connections to close instead of letting net/http log every retry.
			l.e.slot.Add(stats.EmfilePauses, 1)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err != nil {
			return nil, err
		}
		return &trackedConn{Conn: c, e: l.e, born: time.Now()}, nil
	}
}

type trackedConn struct {
	net.Conn
	e         *engine
	born      time.Time
	idleSince atomic.Int64 // unix nanos the connection went idle, 0 while a request is in progress
	served    atomic.Bool  // at least one request completed
	answered  atomic.Bool  // something was written
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.e.slot.Add(stats.BytesIn, int64(n))
	}
	return n, err
}

func (c *trackedConn) Write(p []byte) (int, error) {
	c.answered.Store(true)
	if counter, ok := netHTTPError(p); ok {
		c.e.slot.Add(counter, 1)
	}
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.e.slot.Add(stats.BytesOut, int64(n))
	}
	return n, err
}

// netHTTPError recognises the error responses net/http writes by itself, before any handler runs: they are written
// in one piece, start with the status line and, unlike handler responses, carry no Date header.
func netHTTPError(p []byte) (stats.Counter, bool) {
	const prefix = "HTTP/1.1 "
	if len(p) < len(prefix)+3 || string(p[:len(prefix)]) != prefix || (p[len(prefix)] != '4' && p[len(prefix)] != '5') {
		return 0, false
	}
	if containsDate(p) {
		return 0, false
	}
	status, err := strconv.Atoi(string(p[len(prefix) : len(prefix)+3]))
	if err != nil {
		return 0, false
	}
	return stats.StatusCounter(status)
}

func containsDate(p []byte) bool {
	const date = "\r\nDate: "
	for i := 0; i+len(date) <= len(p); i++ {
		if p[i] == '\r' && string(p[i:i+len(date)]) == date {
			return true
		}
		if p[i] == '\r' && i+3 < len(p) && p[i+1] == '\n' && p[i+2] == '\r' && p[i+3] == '\n' {
			return false // end of head
		}
	}
	return false
}
