package goroutine

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/cometcfg"
	"github.com/comet-lab/comet-lab/src/comet/control"
	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/comet-lab/comet-lab/src/testkit/workertest"
	"golang.org/x/sys/unix"
)

// worker is a RunWorker running in the test process with a control socket the test plays master on.
type worker struct {
	addr string
	slot stats.Slot
	ctl  int // master side of the control socketpair
	done chan error
}

func testConfig() cometcfg.Config {
	return cometcfg.Config{
		HoldMin: 300 * time.Millisecond, HoldMax: 600 * time.Millisecond, Tick: time.Second,
		HeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute, DrainTimeout: 3 * time.Second,
		MaxHeads: 100, Backlog: 128, MaxMessage: 4096, Keep: 8, LogFormat: "text", LogLevel: "info",
		Engine: cometcfg.EngineGoroutine, Procs: 1,
	}
}

func startWorker(t *testing.T, cfg cometcfg.Config) *worker {
	t.Helper()
	env := workertest.New(t, 128)
	w := &worker{addr: fmt.Sprintf("127.0.0.1:%d", env.Port), slot: env.Slot, ctl: env.Ctl, done: make(chan error, 1)}
	go func() {
		w.done <- RunWorker(cfg, env.Worker)
	}()
	t.Cleanup(func() {
		unix.Close(w.ctl) // EOF => drain
		select {
		case <-w.done:
		case <-time.After(10 * time.Second):
			t.Error("worker did not stop after control EOF")
		}
	})
	return w
}

// roundTrip writes raw request bytes on conn and reads one response.
func roundTrip(t *testing.T, conn net.Conn, br *bufio.Reader, raw string) (*http.Response, string) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	// The request tells ReadResponse whether a body follows (not for HEAD).
	req := &http.Request{Method: strings.SplitN(raw, " ", 2)[0]}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("reading response to %q: %v", firstLine(raw), err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil && !resp.Close {
		// A closing error answer may end in a reset when the server hangs up on unread request bytes.
		t.Fatal(err)
	}
	return resp, string(body)
}

func firstLine(s string) string { return strings.SplitN(s, "\r\n", 2)[0] }

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func TestHeldGetAnsweredAfterHoldAndKeptAlive(t *testing.T) {
	w := startWorker(t, testConfig())
	conn, br := dial(t, w.addr)
	for i := 0; i < 2; i++ { // the second poll proves keep-alive on the same connection
		start := time.Now()
		resp, body := roundTrip(t, conn, br, "GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
		held := time.Since(start)
		if resp.StatusCode != 200 || body != "ok\n" || resp.ContentLength != 3 || resp.Close {
			t.Fatalf("poll %d: status %d body %q length %d close %v", i, resp.StatusCode, body, resp.ContentLength, resp.Close)
		}
		if held < 250*time.Millisecond || held > 5*time.Second {
			t.Errorf("poll %d held %v, want about 300-600ms", i, held)
		}
	}
	if got := w.slot.Get(stats.Responses); got != 2 {
		t.Errorf("responses = %d, want 2", got)
	}
	if got := w.slot.Get(stats.Conns); got != 1 {
		t.Errorf("conns = %d, want 1", got)
	}
}

func TestErrorAnswersCloseAndCount(t *testing.T) {
	w := startWorker(t, testConfig())
	tests := []struct {
		name    string
		raw     string
		status  int
		counter stats.Counter
	}{
		{"post", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405, stats.Err405},
		{"body on get", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 413, stats.Err413},
		{"head over 8 KiB", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n", 431, stats.Err431},
		{"malformed", "GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400, stats.Err400},
		{"unknown method", "BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501, stats.Err501},
		{"target over 8 KiB", "GET /" + strings.Repeat("t", 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, stats.Err414},
		{"head over 64 KiB", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", 431, stats.Err431},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, stats.Err505},
		{"https target without TLS", "GET https://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 421, stats.Err421},
		{"fragment in target", "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400, stats.Err400},
		{"invalid Host port", "GET / HTTP/1.1\r\nHost: x:8y\r\n\r\n", 400, stats.Err400},
		{"bad since", "GET /sub?id=a&since=x HTTP/1.1\r\nHost: x\r\n\r\n", 400, stats.Err400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := w.slot.Get(tc.counter)
			conn, br := dial(t, w.addr)
			resp, _ := roundTrip(t, conn, br, tc.raw)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if !resp.Close {
				t.Error("error answer does not close the connection")
			}
			if got := w.slot.Get(tc.counter); got != before+1 {
				t.Errorf("%s = %d, want %d", stats.Names[tc.counter], got, before+1)
			}
		})
	}
}

func TestHeadAndHTTP10(t *testing.T) {
	w := startWorker(t, testConfig())
	conn, br := dial(t, w.addr)
	resp, body := roundTrip(t, conn, br, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 200 || body != "" || resp.Header.Get("Content-Length") != "3" {
		t.Fatalf("HEAD: status %d body %q content-length %q", resp.StatusCode, body, resp.Header.Get("Content-Length"))
	}
	conn10, br10 := dial(t, w.addr)
	resp, body = roundTrip(t, conn10, br10, "GET / HTTP/1.0\r\n\r\n")
	if resp.StatusCode != 200 || body != "ok\n" {
		t.Fatalf("HTTP/1.0: status %d body %q", resp.StatusCode, body)
	}
	conn10.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br10.ReadByte(); err != io.EOF {
		t.Errorf("HTTP/1.0 connection not closed after the answer: %v", err)
	}
}

func sendControl(t *testing.T, w *worker, m control.Message) control.Message {
	t.Helper()
	pkt, err := control.Append(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(w.ctl, pkt); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, control.MaxPacket)
	n, err := unix.Read(w.ctl, buf)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := control.Decode(buf[:n])
	if err != nil || ack.Kind != control.Ack || ack.Seq != m.Seq {
		t.Fatalf("ack %+v, %v; want ack for seq %d", ack, err, m.Seq)
	}
	return ack
}

// waitHeld waits until the worker holds n requests (requests are registered asynchronously to the test's writes).
func waitHeld(t *testing.T, w *worker, n uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for w.slot.Get(stats.Held) != n {
		if time.Now().After(deadline) {
			t.Fatalf("held = %d, want %d", w.slot.Get(stats.Held), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPushReachesHeldSubscribersOnce(t *testing.T) {
	cfg := testConfig()
	cfg.HoldMin, cfg.HoldMax = 20*time.Second, 20*time.Second // only a message can answer in time
	w := startWorker(t, cfg)
	type sub struct {
		conn net.Conn
		br   *bufio.Reader
	}
	subs := map[string]sub{}
	for _, id := range []string{"a", "b"} {
		c, br := dial(t, w.addr)
		io.WriteString(c, "GET /sub?id="+id+"&since=0 HTTP/1.1\r\nHost: x\r\n\r\n")
		subs[id] = sub{c, br}
	}
	waitHeld(t, w, 2)
	if ack := sendControl(t, w, control.Message{Kind: control.Publish, Seq: 1, PubNanos: 42, ID: []byte("a"), Body: []byte("hi a")}); ack.Answered != 1 {
		t.Fatalf("publish answered %d, want 1", ack.Answered)
	}
	readMsg := func(id string) (*http.Response, string) {
		s := subs[id]
		s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(s.br, nil)
		if err != nil {
			t.Fatalf("subscriber %s: %v", id, err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := readMsg("a")
	if body != "hi a" || resp.Header.Get("X-Seq") != "1" || resp.Header.Get("X-Pub-Time") != "42" || resp.Header.Get("X-Kind") != "pub" {
		t.Fatalf("a got %q headers %v", body, resp.Header)
	}
	// Re-poll a with since=1 and broadcast: both held subscribers get it exactly once.
	io.WriteString(subs["a"].conn, "GET /sub?id=a&since=1 HTTP/1.1\r\nHost: x\r\n\r\n")
	waitHeld(t, w, 2)
	if ack := sendControl(t, w, control.Message{Kind: control.Broadcast, Seq: 2, PubNanos: 43, Body: []byte("all")}); ack.Answered != 2 {
		t.Fatalf("broadcast answered %d, want 2", ack.Answered)
	}
	for _, id := range []string{"a", "b"} {
		resp, body := readMsg(id)
		if body != "all" || resp.Header.Get("X-Seq") != "2" || resp.Header.Get("X-Kind") != "broadcast" {
			t.Errorf("%s got %q headers %v", id, body, resp.Header)
		}
	}
	// A subscriber that was between polls gets the stored message at once, oldest first.
	c, br := dial(t, w.addr)
	resp, body = roundTrip(t, c, br, "GET /sub?id=b&since=0 HTTP/1.1\r\nHost: x\r\n\r\n")
	if body != "all" || resp.Header.Get("X-Seq") != "2" {
		t.Errorf("late subscriber got %q seq %q, want the broadcast", body, resp.Header.Get("X-Seq"))
	}
	if got := w.slot.Get(stats.PushDelivered); got != 4 {
		t.Errorf("push_delivered = %d, want 4", got)
	}
}

func TestDrainAnswersHeldAndReturns(t *testing.T) {
	cfg := testConfig()
	cfg.HoldMin, cfg.HoldMax = 30*time.Second, 30*time.Second
	w := startWorker(t, cfg)
	conn, br := dial(t, w.addr)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	waitHeld(t, w, 1)
	pkt, _ := control.Append(nil, control.Message{Kind: control.Drain})
	start := time.Now()
	if _, err := unix.Write(w.ctl, pkt); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("drained answer: status %d close %v, want 200 and close", resp.StatusCode, resp.Close)
	}
	select {
	case err := <-w.done:
		if err != nil {
			t.Fatalf("RunWorker after drain: %v", err)
		}
		w.done <- nil // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("RunWorker did not return after drain")
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("drain took %v", d)
	}
	if got := w.slot.Get(stats.Conns); got != 0 {
		t.Errorf("conns after drain = %d", got)
	}
}
