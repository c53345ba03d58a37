package goroutine

// What the handler refuses, and how: the request rules net/http leaves to it (the same as the netpoll engine's
// parser, src/lib/httpwire) and the error answers that close the connection.

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/comet-lab/comet-lab/src/lib/httpwire"
)

// maxHead is the request head limit of the wire contract: 414 when the request-line does not fit, 431 when the head
// does not. The handler applies it (headLimit), so that an overlong request-target gets the 414 RFC 9112 §3 asks for;
// net/http, which only knows "header too large", reads heads up to netHTTPHead and answers 431 above that.
const (
	maxHead     = 8 << 10
	netHTTPHead = 64 << 10
)

// netHTTPSlack is what net/http adds to MaxHeaderBytes before it answers 431 (its initialReadLimitSize).
const netHTTPSlack = 4096

// check applies the request rules net/http leaves to the handler, as the netpoll engine's parser does
// (src/lib/httpwire, docs/conformance.md): the head limit (headLimit), the request-target's form and characters and
// the Host value (400; 421 for an https target, RFC 9110 §7.4), the method (405 for POST, which comet implements on
// the admin listener, 501 for any other), and no request body (413). It returns 0 for a request to serve.
func (e *engine) check(r *http.Request) int {
	if status := headLimit(r); status != 0 {
		return status
	}
	if _, status := httpwire.TargetPath([]byte(r.Method), []byte(r.RequestURI)); status != 0 {
		return status
	}
	if !httpwire.ValidHost([]byte(r.Host)) {
		return http.StatusBadRequest
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		return http.StatusMethodNotAllowed
	default:
		return http.StatusNotImplemented
	}
	if len(r.TransferEncoding) > 0 || r.ContentLength > 0 {
		return http.StatusRequestEntityTooLarge
	}
	return 0
}

// headLimit applies maxHead as the netpoll engine's parser does: a method that alone fills the head is 501 (longer
// than any implemented), a request-line that does not fit is 414, a head that does not fit is 431. The head's size
// is counted from what net/http parsed (line terminators included; optional whitespace around values is not kept).
func headLimit(r *http.Request) int {
	line := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	switch {
	case len(r.Method) >= maxHead:
		return http.StatusNotImplemented
	case line > maxHead:
		return http.StatusRequestURITooLong
	}
	size := line + len("Host: ") + len(r.Host) + 2 + 2
	for name, values := range r.Header {
		for _, v := range values {
			size += len(name) + 2 + len(v) + 2
		}
	}
	if size > maxHead {
		return http.StatusRequestHeaderFieldsTooLarge
	}
	return 0
}

// fail answers an error status and closes the connection, as the contract asks for every 4xx.
func (e *engine) fail(rw http.ResponseWriter, status int) {
	body := http.StatusText(status) + "\n"
	h := rw.Header()
	h.Set("Connection", "close")
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if status == http.StatusMethodNotAllowed {
		h.Set("Allow", "GET, HEAD") // RFC 9110 §15.5.6
	}
	rw.WriteHeader(status)
	rw.Write([]byte(body))
	c, _ := stats.StatusCounter(status)
	e.slot.Add(c, 1)
	closeAfter(rw)
}

// closeAfter ends the connection once an error answer is sent. net/http would keep it open while it waits for a
// body the handler refused (a 100-continue request's, which the client never sends), although the answer says
// "Connection: close" (RFC 9112 §9.6). Like net/http's own close, it half-closes first and drains what the client
// still sends for a moment, so unread input does not turn the close into a reset that destroys the answer.
func closeAfter(rw http.ResponseWriter) {
	rc := http.NewResponseController(rw)
	if rc.Flush() != nil {
		return
	}
	conn, _, err := rc.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	if tc, ok := conn.(*trackedConn); ok {
		if cw, ok := tc.Conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			io.Copy(io.Discard, io.LimitReader(conn, 64<<10))
		}
	}
}
