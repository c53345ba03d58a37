package conformance

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// probe writes raw to addr and reads answers until the connection closes or quiet passes without one.
func probe(t *testing.T, addr, raw string, quiet time.Duration) observed {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	// The server may answer and close before it read everything (an overlong head): a failed write is not the
	// outcome, what can be read is.
	io.WriteString(conn, raw)
	method, _, _ := strings.Cut(raw, " ")
	br := bufio.NewReader(conn)
	var o observed
	for {
		conn.SetReadDeadline(time.Now().Add(quiet))
		if _, err := br.Peek(1); err != nil {
			o.closed = !isTimeout(err)
			return o
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			o.garbage = true
			o.closed = !isTimeout(err) && closedAfter(conn, br, quiet)
			return o
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		o.answers = append(o.answers, answer{status: resp.StatusCode, allow: resp.Header.Get("Allow") != ""})
		if err != nil {
			// A body cut short by the close (a reset after unread request bytes): the answer counts, the connection is gone.
			o.closed = true
			return o
		}
	}
}

// closedAfter drains what is left and reports whether the peer closes within quiet.
func closedAfter(conn net.Conn, br *bufio.Reader, quiet time.Duration) bool {
	conn.SetReadDeadline(time.Now().Add(quiet))
	_, err := io.Copy(io.Discard, br)
	return err == nil || !isTimeout(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
