package netpoll

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/stats"
	"golang.org/x/sys/unix"
)

func TestHoldTiming(t *testing.T) {
	cfg := testConfig()
	cfg.HoldMin, cfg.HoldMax, cfg.Tick = time.Second, time.Second, 100*time.Millisecond
	tw := startWorker(t, cfg)
	c := dial(t, tw.port)
	start := time.Now()
	c.write(t, getReq)
	tw.waitCounter(t, stats.Held, 1)
	a := c.response(t, 5*time.Second, false)
	took := time.Since(start)
	if took < time.Second || took > 2500*time.Millisecond {
		t.Fatalf("answered after %v, want 1-2 s", took)
	}
	if a.Status != 200 || string(a.Body) != "ok\n" || a.ContentLength != 3 || a.Close {
		t.Fatalf("answer %+v, want 200 ok\\n kept alive", a)
	}
	tw.waitCounter(t, stats.Held, 0)
	if got := tw.get(stats.Responses); got != 1 {
		t.Fatalf("responses = %d, want 1", got)
	}
}

func TestHoldSpread(t *testing.T) {
	cfg := testConfig()
	cfg.HoldMin, cfg.HoldMax = 100*time.Millisecond, 900*time.Millisecond
	tw := startWorker(t, cfg)
	const n = 40
	clients := make([]*client, n)
	start := time.Now()
	for i := range clients {
		clients[i] = dial(t, tw.port)
		clients[i].write(t, getReq)
	}
	took := make(chan time.Duration, n)
	for _, c := range clients {
		go func() {
			if _, err := c.tryResponse(5*time.Second, false); err != nil {
				took <- time.Hour
				return
			}
			took <- time.Since(start)
		}()
	}
	var early, late int
	for range clients {
		switch d := <-took; {
		case d == time.Hour:
			t.Fatal("a held request was not answered")
		case d < 500*time.Millisecond:
			early++
		default:
			late++
		}
	}
	// Uniform over [0.1, 0.9] s: both halves get some; 40 all on one side would be a broken RNG.
	if early == 0 || late == 0 {
		t.Fatalf("holds not spread: %d before 0.5 s, %d after", early, late)
	}
}

func TestConnectionPersistence(t *testing.T) {
	tests := []struct {
		name      string
		req       string
		headOnly  bool
		wantClose bool
		wantBody  string
	}{
		{"HTTP/1.1 keep-alive re-poll", getReq, false, false, "ok\n"},
		{"HTTP/1.0 closes", "GET / HTTP/1.0\r\n\r\n", false, true, "ok\n"},
		{"HTTP/1.0 keep-alive stays", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false, false, "ok\n"},
		{"Connection: close closes", "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false, true, "ok\n"},
		{"HEAD has no body", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", true, false, ""},
	}
	tw := startWorker(t, testConfig())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, tw.port)
			for round := 0; round < 2; round++ {
				c.write(t, tc.req)
				a := c.response(t, 5*time.Second, tc.headOnly)
				if a.Status != 200 || string(a.Body) != tc.wantBody || a.Close != tc.wantClose || a.ContentLength != 3 {
					t.Fatalf("round %d: %q body %q close %v; want body %q close %v", round, a.Head, a.Body, a.Close, tc.wantBody, tc.wantClose)
				}
				if tc.wantClose {
					c.expectClosed(t, 3*time.Second)
					return
				}
			}
			if tc.headOnly {
				c.expectOpen(t, 100*time.Millisecond) // no stray body bytes after the head
			}
		})
	}
}

func TestPipelinedInOrder(t *testing.T) {
	tw := startWorker(t, testConfig())
	c := dial(t, tw.port)
	c.write(t, getReq+"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"+"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	start := time.Now()
	for i, headOnly := range []bool{false, true, false} {
		a := c.response(t, 5*time.Second, headOnly)
		wantBody := "ok\n"
		if headOnly {
			wantBody = ""
		}
		if a.Status != 200 || string(a.Body) != wantBody || a.Close != (i == 2) {
			t.Fatalf("answer %d: %q body %q", i, a.Head, a.Body)
		}
	}
	// Each request is held in turn: three holds of 200 ms.
	if took := time.Since(start); took < 550*time.Millisecond {
		t.Fatalf("3 pipelined requests answered in %v, want them held one after another", took)
	}
	c.expectClosed(t, 3*time.Second)
}

func TestThousandPipelined(t *testing.T) {
	cfg := testConfig()
	cfg.HoldMin, cfg.HoldMax = 0, 0 // answer at once: order, not holding, is under test
	tw := startWorker(t, cfg)
	c := dial(t, tw.port)
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		if i%3 == 1 {
			b.WriteString("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
		} else {
			fmt.Fprintf(&b, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		}
	}
	c.write(t, b.String())
	for i := 0; i < 1000; i++ {
		a := c.response(t, 5*time.Second, i%3 == 1)
		if a.Status != 200 || (i%3 == 1) != (len(a.Body) == 0) {
			t.Fatalf("answer %d out of order: %q body %q", i, a.Head, a.Body)
		}
	}
	c.expectOpen(t, 100*time.Millisecond)
	if got := tw.get(stats.Responses); got != 1000 {
		t.Fatalf("responses = %d, want 1000", got)
	}
}

func TestPipelineCap(t *testing.T) {
	cfg := testConfig()
	cfg.HoldMin, cfg.HoldMax = time.Minute, time.Minute
	tw := startWorker(t, cfg)
	c := dial(t, tw.port)
	// The first request is held; the rest wait in the spill until it passes MaxPipelined.
	req := "GET /0123456789 HTTP/1.1\r\nHost: x\r\n\r\n"
	c.write(t, strings.Repeat(req, MaxPipelined/len(req)/2))
	tw.waitCounter(t, stats.Held, 1)
	c.expectOpen(t, 100*time.Millisecond) // half the cap is fine
	c.Write([]byte(strings.Repeat(req, MaxPipelined/len(req))))
	c.expectClosed(t, 5*time.Second)
	tw.waitCounter(t, stats.PipelineCloses, 1)
	tw.waitCounter(t, stats.Conns, 0)
	tw.waitCounter(t, stats.Held, 0)
}

func TestSlowReaderClosed(t *testing.T) {
	cfg := testConfig()
	cfg.HoldMin, cfg.HoldMax = 0, 0
	tw := startWorker(t, cfg)
	// A raw blocking socket with a small receive buffer that never reads its answers.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: tw.port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &unix.Timeval{Usec: 200000})
	chunk := []byte(strings.Repeat("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1000))
	deadline := time.Now().Add(20 * time.Second)
	written := 0
	for tw.get(stats.SlowCloses) == 0 && time.Now().Before(deadline) && written < 256<<20 {
		n, err := unix.Write(fd, chunk)
		if n > 0 {
			written += n
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			break // reset by the server
		}
	}
	tw.waitCounter(t, stats.SlowCloses, 1)
	tw.waitCounter(t, stats.Conns, 0)
	t.Logf("closed after %d request bytes", written)
}

func TestHostileInput(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		status  int
		counter stats.Counter
	}{
		{"64 KiB head", "GET / HTTP/1.1\r\nX-A: " + strings.Repeat("a", 64<<10), 431, stats.Err431},
		{"giant header", "GET / HTTP/1.1\r\nX-Big: " + strings.Repeat("b", 9000) + "\r\n\r\n", 431, stats.Err431},
		{"10,000 small headers", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-S: 1\r\n", 10000) + "\r\n", 431, stats.Err431},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello\r\n\r\n", 400, stats.Err400},
		{"NUL in header", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400, stats.Err400},
		{"bare LF", "GET / HTTP/1.1\nHost: x\n\n", 400, stats.Err400},
		{"invalid method token", "G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, stats.Err400},
		{"POST not allowed", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405, stats.Err405},
		{"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505, stats.Err505},
		{"unknown method", "BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501, stats.Err501},
		{"64 KiB target", "GET /" + strings.Repeat("t", 64<<10), 414, stats.Err414},
		{"unknown expectation", "GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n", 417, stats.Err417},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400, stats.Err400},
		{"https target without TLS", "GET https://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 421, stats.Err421},
		{"CL and TE", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, stats.Err400},
		{"body on GET", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 413, stats.Err413},
		{"sub without id", "GET /sub?since=3 HTTP/1.1\r\nHost: x\r\n\r\n", 400, stats.Err400},
		{"sub with bad since", "GET /sub?id=a&since=x HTTP/1.1\r\nHost: x\r\n\r\n", 400, stats.Err400},
	}
	tw := startWorker(t, testConfig())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tw.get(tc.counter)
			c := dial(t, tw.port)
			c.Write([]byte(tc.input)) // the server may close before reading it all
			a := c.response(t, 5*time.Second, false)
			if a.Status != tc.status || !a.Close {
				t.Fatalf("answer %q, want %d with Connection: close", a.Head, tc.status)
			}
			c.expectClosed(t, 3*time.Second)
			tw.waitCounter(t, tc.counter, before+1)
		})
	}
	tw.waitCounter(t, stats.Conns, 0)
	tw.waitCounter(t, stats.Heads, 0)
}

func TestSlowloris(t *testing.T) {
	cfg := testConfig()
	cfg.HeaderTimeout, cfg.Tick = time.Second, 100*time.Millisecond
	tw := startWorker(t, cfg)
	slow := dial(t, tw.port)
	start := time.Now()
	slow.write(t, "GET / HTTP/1.1\r\nHo")
	tw.waitCounter(t, stats.Heads, 1)
	// Others are served meanwhile.
	for i := 0; i < 3; i++ {
		c := dial(t, tw.port)
		c.write(t, getReq)
		if a := c.response(t, 3*time.Second, false); a.Status != 200 {
			t.Fatalf("other conn got %q", a.Head)
		}
	}
	slow.write(t, "st: x\r\n") // more bytes do not restart the header timer
	a := slow.response(t, 5*time.Second, false)
	took := time.Since(start)
	if a.Status != 408 || !a.Close || took < time.Second || took > 3*time.Second {
		t.Fatalf("slow head got %q after %v, want 408 close after 1-2 s", a.Head, took)
	}
	slow.expectClosed(t, 3*time.Second)
	tw.waitCounter(t, stats.Err408, 1)
	tw.waitCounter(t, stats.Heads, 0)
	if got := tw.get(stats.IdleTimeouts); got != 0 {
		t.Fatalf("idle timeouts = %d, a header timeout is not idle", got)
	}
}

func TestIdleTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.IdleTimeout, cfg.Tick = 500*time.Millisecond, 50*time.Millisecond
	cfg.HoldMin, cfg.HoldMax = 0, 0
	tw := startWorker(t, cfg)
	c := dial(t, tw.port)
	c.write(t, getReq)
	c.response(t, 3*time.Second, false)
	start := time.Now()
	a := c.response(t, 5*time.Second, false)
	if took := time.Since(start); a.Status != 408 || !a.Close || took < 400*time.Millisecond {
		t.Fatalf("idle conn got %q after %v, want 408 after 0.5 s", a.Head, took)
	}
	c.expectClosed(t, 3*time.Second)
	tw.waitCounter(t, stats.IdleTimeouts, 1)
	if got := tw.get(stats.Err408); got != 0 {
		t.Fatalf("err_408 = %d, idle timeouts are counted apart", got)
	}
}

func TestMaxHeads(t *testing.T) {
	const conns, maxHeads = 1200, 200
	cfg := testConfig()
	cfg.MaxHeads = maxHeads
	tw := startWorker(t, cfg)
	clients := make([]*client, conns)
	for i := range clients {
		clients[i] = dial(t, tw.port)
		clients[i].write(t, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	}
	tw.waitCounter(t, stats.Err503, conns-maxHeads)
	tw.waitCounter(t, stats.Heads, maxHeads)
	tw.waitCounter(t, stats.Conns, maxHeads)
	got503 := 0
	for _, c := range clients[maxHeads:] {
		if a, err := c.tryResponse(3*time.Second, false); err == nil && a.Status == 503 {
			got503++
		}
	}
	if got503 != conns-maxHeads {
		t.Fatalf("%d late conns read a 503, want %d", got503, conns-maxHeads)
	}
	// Heads complete: a slot frees and the gauges come back down.
	for _, c := range clients[:maxHeads] {
		c.write(t, "1\r\n\r\n")
	}
	tw.waitCounter(t, stats.Heads, 0)
	tw.waitCounter(t, stats.Held, maxHeads)
	for _, c := range clients {
		c.Close()
	}
	tw.waitCounter(t, stats.Conns, 0)
	tw.waitCounter(t, stats.Held, 0)
}

func TestResetAndHalfClose(t *testing.T) {
	tests := []struct {
		name       string
		send       string
		gauge      stats.Counter
		rst        bool
		wantResets uint64
	}{
		{"RST while held", getReq, stats.Held, true, 1},
		{"RST mid-head", "GET / HTTP/1.1\r\n", stats.Heads, true, 1},
		{"half-close while held", getReq, stats.Held, false, 0},
		{"half-close mid-head", "GET / HT", stats.Heads, false, 0},
	}
	cfg := testConfig()
	cfg.HoldMin, cfg.HoldMax = time.Minute, time.Minute
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tw := startWorker(t, cfg)
			c := dial(t, tw.port)
			c.write(t, tc.send)
			tw.waitCounter(t, tc.gauge, 1)
			tcp := c.Conn.(*net.TCPConn)
			if tc.rst {
				tcp.SetLinger(0)
				tcp.Close()
			} else {
				tcp.CloseWrite()
			}
			tw.waitCounter(t, stats.Conns, 0)
			tw.waitCounter(t, stats.Held, 0)
			tw.waitCounter(t, stats.Heads, 0)
			if got := tw.get(stats.Resets); got != tc.wantResets {
				t.Fatalf("resets = %d, want %d", got, tc.wantResets)
			}
			if got := tw.get(stats.Responses); got != 0 {
				t.Fatalf("responses = %d, want none", got)
			}
		})
	}
}
