package netpoll

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/cometcfg"
	"github.com/comet-lab/comet-lab/src/comet/control"
	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/comet-lab/comet-lab/src/lib/httpwire"
	"github.com/comet-lab/comet-lab/src/testkit/workertest"
	"golang.org/x/sys/unix"
)

// testConfig holds requests briefly and ticks fast so tests run in seconds.
func testConfig() cometcfg.Config {
	return cometcfg.Config{
		Listen: "127.0.0.1:0", Procs: 1, Engine: cometcfg.EngineNetpoll,
		HoldMin: 200 * time.Millisecond, HoldMax: 200 * time.Millisecond, Tick: 50 * time.Millisecond,
		HeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second, DrainTimeout: 3 * time.Second,
		MaxHeads: 1000, Backlog: 4096, MaxMessage: 4096, Keep: 64, LogFormat: "text", LogLevel: "info",
	}
}

type testWorker struct {
	t    testing.TB
	port int
	slot stats.Slot
	ctl  int // master's end of the control socket
	wctl int // worker's end
	errc chan error
	done bool
}

// startWorker runs RunWorker in-process on a fresh 127.0.0.1 listener; cleanup drains it.
func startWorker(t testing.TB, cfg cometcfg.Config) *testWorker {
	t.Helper()
	env := workertest.New(t, cfg.Backlog)
	tw := &testWorker{t: t, port: env.Port, slot: env.Slot, ctl: env.Ctl, wctl: env.Worker.ControlFD, errc: make(chan error, 1)}
	go func() {
		tw.errc <- RunWorker(cfg, env.Worker)
	}()
	t.Cleanup(func() { tw.stop() })
	return tw
}

// stop drains the worker (control EOF) and waits for RunWorker to return.
func (tw *testWorker) stop() error {
	if tw.done {
		return nil
	}
	tw.done = true
	unix.Close(tw.ctl)
	defer unix.Close(tw.wctl)
	select {
	case err := <-tw.errc:
		return err
	case <-time.After(15 * time.Second):
		tw.t.Errorf("RunWorker did not return 15 s after control EOF")
		return errors.New("timeout")
	}
}

// send writes one control message and returns the worker's ack.
func (tw *testWorker) send(t testing.TB, m control.Message) control.Message {
	t.Helper()
	p, err := control.Append(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := control.Decode(tw.sendPacket(t, p))
	if err != nil || ack.Kind != control.Ack || ack.Seq != m.Seq {
		t.Fatalf("ack = %+v, %v; want an ack for seq %d", ack, err, m.Seq)
	}
	return ack
}

// sendPacket writes one control packet (a message or a batch) and returns the worker's reply packet.
func (tw *testWorker) sendPacket(t testing.TB, p []byte) []byte {
	t.Helper()
	if _, err := unix.Write(tw.ctl, p); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, control.MaxPacket)
	unix.SetsockoptTimeval(tw.ctl, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 10})
	n, err := unix.Read(tw.ctl, buf)
	if err != nil {
		t.Fatalf("reading the reply: %v", err)
	}
	return buf[:n]
}

func (tw *testWorker) get(c stats.Counter) uint64 { return tw.slot.Get(c) }

// waitCounter waits until counter c equals want.
func (tw *testWorker) waitCounter(t testing.TB, c stats.Counter, want uint64) {
	t.Helper()
	waitFor(t, 10*time.Second, func() bool { return tw.get(c) == want },
		func() string { return fmt.Sprintf("%s = %d, want %d", stats.Names[c], tw.get(c), want) })
}

func waitFor(t testing.TB, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type client struct {
	net.Conn
	buf []byte
}

func dial(t testing.TB, port int) *client {
	t.Helper()
	c, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{Conn: c}
}

func (c *client) write(t testing.TB, s string) {
	t.Helper()
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

type answer struct {
	httpwire.Response
	Body []byte
	Head string
}

// response reads one response; headOnly for answers to HEAD (Content-Length announced, no body sent).
func (c *client) response(t testing.TB, timeout time.Duration, headOnly bool) answer {
	t.Helper()
	a, err := c.tryResponse(timeout, headOnly)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (c *client) tryResponse(timeout time.Duration, headOnly bool) (answer, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	tmp := make([]byte, 64<<10)
	for {
		if end := bytes.Index(c.buf, []byte("\r\n\r\n")); end >= 0 {
			head := c.buf[:end+4]
			parse := c.buf
			if headOnly {
				// Let the response parser see the head alone with an empty body.
				parse = bytes.Replace(append([]byte(nil), head...), []byte("Content-Length: "), []byte("X-Was-Length: "), 1)
				parse = bytes.Replace(parse, []byte("\r\n\r\n"), []byte("\r\nContent-Length: 0\r\n\r\n"), 1)
			}
			resp, total, err := httpwire.ParseResponse(parse)
			if err == nil {
				if headOnly {
					total = len(head)
					if i := bytes.Index(head, []byte("Content-Length: ")); i >= 0 {
						fmt.Sscan(string(head[i+len("Content-Length: "):]), &resp.ContentLength)
					}
				}
				a := answer{Response: resp, Head: string(head), Body: append([]byte(nil), c.buf[len(head):total]...)}
				c.buf = c.buf[total:]
				return a, nil
			}
			if err != httpwire.ErrIncomplete {
				return answer{}, fmt.Errorf("bad response %q: %v", c.buf, err)
			}
		}
		n, err := c.Read(tmp)
		c.buf = append(c.buf, tmp[:n]...)
		if err != nil {
			return answer{}, fmt.Errorf("reading response (have %q): %w", c.buf, err)
		}
	}
}

// expectClosed asserts the server closes the connection without sending more.
func (c *client) expectClosed(t testing.TB, timeout time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(timeout))
	var b [512]byte
	n, err := c.Read(b[:])
	if n > 0 || len(c.buf) > 0 {
		t.Fatalf("got %q after the answer, want close", append(c.buf, b[:n]...))
	}
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %v (%v)", timeout, err)
	}
}

// expectOpen asserts nothing arrives and the connection stays open for d.
func (c *client) expectOpen(t testing.TB, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	var b [512]byte
	n, err := c.Read(b[:])
	if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("want silence for %v, got %q, %v", d, b[:n], err)
	}
}

func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

const getReq = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
