// Package enginetest is the behaviour suite both comet engines must pass: it builds ./src/cmd/comet once per test
// binary, runs it with two workers of the engine under test on loopback, and checks the wire contract of
// docs/interfaces.md from the outside (raw TCP, the admin /stats, /pub and /broadcast, SIGTERM).
package enginetest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/lib/adminclient"
	"github.com/comet-lab/comet-lab/src/lib/schema"
	"github.com/comet-lab/comet-lab/src/testkit/workertest"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// Cleanup removes the built binary; call it from TestMain after m.Run.
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// cometBinary builds ./src/cmd/comet once per test binary.
func cometBinary(t *testing.T) string { return binary(t, "comet") }

// floodBinary builds ./src/cmd/flood once per test binary.
func floodBinary(t *testing.T) string { return binary(t, "flood") }

// binary builds ./src/cmd/comet, ./src/cmd/comet-broker (comet -broker runs it from beside comet) and
// ./src/cmd/flood once per test binary and returns the path of name.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "enginetest-")
		if buildErr != nil {
			return
		}
		gobin, err := exec.LookPath("go")
		if err != nil {
			gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..", "..")
		cmd := exec.Command(gobin, "build", "-o", buildDir+"/", "./src/cmd/comet", "./src/cmd/comet-broker", "./src/cmd/flood")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./src/cmd/comet ./src/cmd/comet-broker ./src/cmd/flood: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, name)
}

// Comet is a running comet under test.
type Comet struct {
	Listen string
	Admin  string
	cmd    *exec.Cmd
	log    *strings.Builder
	done   chan error
}

// syncBuilder lets the process write its log while the test reads it.
type syncBuilder struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// StartComet runs comet with 2 workers of engine and extra flags, waits until /stats shows both workers, and stops
// it (SIGTERM, then SIGKILL) at the end of the test. Free ports are picked by the kernel and released before comet
// binds them, so another program can take one meanwhile: start-up is retried with new ports then.
func StartComet(t *testing.T, engine string, extra ...string) *Comet {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		c, err := startComet(t, engine, extra...)
		if err == nil {
			return c
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatal(lastErr)
	return nil
}

func startComet(t *testing.T, engine string, extra ...string) (*Comet, error) {
	bin := cometBinary(t)
	c := &Comet{
		Listen: fmt.Sprintf("127.0.0.1:%d", workertest.FreePort(t)),
		Admin:  fmt.Sprintf("127.0.0.1:%d", workertest.FreePort(t)),
		log:    &strings.Builder{},
		done:   make(chan error, 1),
	}
	args := append([]string{"-engine", engine, "-procs", "2", "-listen", c.Listen, "-admin", c.Admin,
		"-drain-timeout", "4s", "-log-level", "info"}, extra...)
	c.cmd = exec.Command(bin, args...)
	out := &syncBuilder{b: c.log}
	c.cmd.Stdout, c.cmd.Stderr = out, out
	logText := func() string {
		out.mu.Lock()
		defer out.mu.Unlock()
		return c.log.String()
	}
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { c.done <- c.cmd.Wait() }()
	stop := func() {
		select {
		case err := <-c.done:
			c.done <- err
			return
		default:
		}
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-c.done:
			c.done <- err
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
			c.done <- <-c.done
			t.Errorf("comet did not exit within 10s of SIGTERM")
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := c.Stats()
		if err == nil && len(st.Workers) == 2 && st.Workers[0].PID > 0 && st.Workers[1].PID > 0 {
			// /stats may answer before the workers accept; a successful connect shows the port is served.
			if conn, err := net.DialTimeout("tcp", c.Listen, time.Second); err == nil {
				conn.Close()
				break
			}
		}
		select {
		case err := <-c.done:
			c.done <- err
			return nil, fmt.Errorf("comet exited during start-up (%v):\n%s", err, logText())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("comet not ready within 15s (last /stats error %v):\n%s", err, logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("comet log:\n%s", logText())
		}
	})
	return c, nil
}

var adminClient = &http.Client{Timeout: 5 * time.Second}

// Stats fetches /stats.
func (c *Comet) Stats() (schema.Stats, error) {
	return adminclient.Stats(adminClient, "http://"+c.Admin, "")
}

// PubResult is the admin's answer to /pub and /broadcast.
type PubResult struct {
	Seq      uint64 `json:"seq"`
	Answered uint64 `json:"answered"`
}

// Publish posts body to /pub?id=id, or to /broadcast when id is empty.
func (c *Comet) Publish(t *testing.T, id, body string) PubResult {
	t.Helper()
	url := "http://" + c.Admin + "/broadcast"
	if id != "" {
		url = "http://" + c.Admin + "/pub?id=" + id
	}
	resp, err := adminClient.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %s %s", url, resp.Status, b)
	}
	var r PubResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("POST %s: answer %q: %v", url, b, err)
	}
	return r
}

// waitStats polls /stats until ok accepts it.
func (c *Comet) waitStats(t *testing.T, what string, ok func(schema.Stats) bool) schema.Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.Stats()
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: last /stats %+v (err %v)", what, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Conn is a raw client connection.
type Conn struct {
	net.Conn
	br *bufio.Reader
}

// Dial opens a raw connection to comet's port.
func (c *Comet) Dial(t *testing.T) *Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", c.Listen, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &Conn{Conn: nc, br: bufio.NewReader(nc)}
}

// Send writes a raw request.
func (c *Conn) Send(t *testing.T, raw string) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("writing %q: %v", firstLine(raw), err)
	}
}

// Answer is one response read from a Conn.
type Answer struct {
	*http.Response
	Body string
	Took time.Duration
}

// Read reads one response to a request of method (HEAD has no body), waiting at most within.
func (c *Conn) Read(t *testing.T, method string, within time.Duration) Answer {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(within))
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("no %s answer within %v: %v", method, within, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil && !resp.Close {
		// Closing error answers may end in a reset when the server hangs up on unread request bytes.
		t.Fatalf("reading %s body: %v", method, err)
	}
	return Answer{Response: resp, Body: string(b), Took: time.Since(start)}
}

// RoundTrip sends raw and reads its answer.
func (c *Conn) RoundTrip(t *testing.T, raw string, within time.Duration) Answer {
	t.Helper()
	c.Send(t, raw)
	return c.Read(t, strings.SplitN(raw, " ", 2)[0], within)
}

// WaitClosed reports whether the server closes the connection within d (EOF or reset, no more bytes).
func (c *Conn) WaitClosed(d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.br.ReadByte()
	if err == nil {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true
}

func firstLine(s string) string { return strings.SplitN(s, "\r\n", 2)[0] }

func get(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: comet\r\n\r\n" }

func sub(id string, since uint64) string {
	return get("/sub?id=" + id + "&since=" + strconv.FormatUint(since, 10))
}
