package supervise

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/cometcfg"
	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/comet-lab/comet-lab/src/lib/netloop"
	"github.com/sirupsen/logrus"
)

// The test binary doubles as the worker: the supervisor re-executes /proc/self/exe with fakeWorkerEnv set.
const (
	fakeWorkerEnv = "SUPERVISE_FAKE_WORKER" // serve | crash | stuck
	fakeHoldEnv   = "SUPERVISE_FAKE_HOLD"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeWorkerEnv); mode != "" {
		os.Exit(fakeWorker(mode))
	}
	os.Exit(m.Run())
}

// fakeWorker follows the worker contract with net/http: serve on fd 3, count held requests in its slot of fd 4,
// and on Drain or EOF on fd 5 answer every held request and exit 0.
func fakeWorker(mode string) int {
	if mode == "crash" {
		return 3
	}
	index, _ := strconv.Atoi(os.Getenv(cometcfg.WorkerIndexEnv))
	table, err := stats.Open(cometcfg.StatsFD)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	slot := table.Slot(index)
	hold, _ := time.ParseDuration(os.Getenv(fakeHoldEnv))
	ln, err := net.FileListener(os.NewFile(cometcfg.ListenerFD, "listener"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	drain := make(chan struct{})
	go func() {
		ctl := os.NewFile(cometcfg.ControlFD, "control")
		buf := make([]byte, 1<<16)
		for {
			n, err := ctl.Read(buf)
			if err != nil || n == 0 || buf[0] == 'D' {
				if mode == "stuck" {
					select {} // ignores the drain request: the supervisor must kill it
				}
				close(drain)
				return
			}
		}
	}()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slot.Add(stats.Held, 1)
		select {
		case <-time.After(hold):
		case <-drain:
		}
		slot.Add(stats.Held, -1)
		io.WriteString(w, "ok\n")
	})}
	go srv.Serve(ln)
	<-drain
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	return 0
}

type harness struct {
	sup      *Supervisor
	table    *stats.Table
	port     int
	attached atomic.Int32
	detached atomic.Int32
}

func start(t *testing.T, procs int, mode string, hold time.Duration) *harness {
	t.Helper()
	lfd, err := netloop.Listen("127.0.0.1:0", 1024, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(lfd) })
	port, _ := netloop.LocalPort(lfd)
	table, err := stats.Create(procs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { table.Close() })
	log := logrus.New()
	log.SetOutput(io.Discard)
	h := &harness{table: table, port: port}
	h.sup, err = New(Config{
		Procs:    procs,
		Env:      append(os.Environ(), fakeWorkerEnv+"="+mode, fakeHoldEnv+"="+hold.String()),
		ListenFD: lfd,
		Table:    table,
		Log:      log,
		Attach:   func(*Conn) { h.attached.Add(1) },
		Detach:   func(*Conn) { h.detached.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sup.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.sup.Drain([]byte{'D'}, 5*time.Second) })
	return h
}

// hold opens n connections that each send one GET; results receive the status (0 on a broken connection).
func (h *harness) hold(t *testing.T, n int) <-chan int {
	t.Helper()
	results := make(chan int, n)
	for range n {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", h.port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		go func() {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				results <- 0
				return
			}
			resp.Body.Close()
			results <- resp.StatusCode
		}()
	}
	return results
}

func (h *harness) heldBy(i int) int { return int(h.table.Slot(i).Get(stats.Held)) }

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func TestRestartKeepsOtherWorkersConnections(t *testing.T) {
	h := start(t, 2, "serve", 2*time.Second)
	// Both workers must hold some requests for the test to show anything; which one accepts is up to the
	// kernel, so add batches until each has a share.
	var batches []<-chan int
	conns := 0
	for h.heldBy(0) == 0 || h.heldBy(1) == 0 {
		if conns >= 400 {
			t.Fatalf("%d connections all went to one worker", conns)
		}
		batches = append(batches, h.hold(t, 20))
		conns += 20
		waitFor(t, "all requests held", 10*time.Second, func() bool { return h.heldBy(0)+h.heldBy(1) == conns })
	}
	heldByOther := h.heldBy(1)
	victim := h.sup.Workers()[0]

	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, "a new worker in slot 0", 5*time.Second, func() bool {
		w := h.sup.Workers()[0]
		return w.PID != 0 && w.PID != victim.PID
	})
	t.Logf("slot 0 restarted in %v; %d of %d requests were on the surviving worker", took, heldByOther, conns)
	if took > 2*time.Second {
		t.Errorf("restart took %v, want about 1 s at most", took)
	}
	ws := h.sup.Workers()
	if ws[0].Restarts != 1 || ws[1].Restarts != 0 || h.sup.Restarts() != 1 {
		t.Errorf("restarts %+v, want 1 for slot 0 only", ws)
	}
	if got := h.table.Slot(0).Get(stats.PID); got != uint64(ws[0].PID) {
		t.Errorf("slot 0 pid %d, want the new worker's %d", got, ws[0].PID)
	}
	// Requests on the surviving worker are answered normally; those on the killed one see a broken connection.
	ok := 0
	for _, results := range batches {
		for range 20 {
			if <-results == http.StatusOK {
				ok++
			}
		}
	}
	if ok != heldByOther {
		t.Errorf("%d requests answered 200, want the %d held by the surviving worker", ok, heldByOther)
	}
	if h.attached.Load() != 3 {
		t.Errorf("Attach called %d times, want 3 (two starts and one restart)", h.attached.Load())
	}
	// The new worker serves.
	if status := <-h.hold(t, 1); status != http.StatusOK {
		t.Errorf("request after restart: status %d", status)
	}
}

func TestDrainAnswersHeldRequests(t *testing.T) {
	h := start(t, 2, "serve", time.Minute)
	const conns = 20
	results := h.hold(t, conns)
	waitFor(t, "all requests held", 10*time.Second, func() bool { return h.heldBy(0)+h.heldBy(1) == conns })
	began := time.Now()
	if err := h.sup.Drain([]byte{'D'}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for range conns {
		if status := <-results; status != http.StatusOK {
			t.Fatalf("held request got %d during drain, want 200", status)
		}
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("drain took %v", took)
	}
	for _, w := range h.sup.Workers() {
		if w.PID != 0 || w.Restarts != 0 {
			t.Errorf("after drain: %+v, want no process and no restart", w)
		}
	}
	if h.detached.Load() != 2 {
		t.Errorf("Detach called %d times, want 2", h.detached.Load())
	}
}

func TestDrainKillsStragglers(t *testing.T) {
	h := start(t, 1, "stuck", time.Minute)
	pid := h.sup.Workers()[0].PID
	h.hold(t, 1)
	waitFor(t, "worker serving", 10*time.Second, func() bool { return h.heldBy(0) == 1 })
	err := h.sup.Drain([]byte{'D'}, 500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(pid)) {
		t.Fatalf("Drain = %v, want an error naming pid %d", err, pid)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("worker %d still exists after Drain", pid)
	}
}

func TestCrashLoopBacksOff(t *testing.T) {
	h := start(t, 1, "crash", 0)
	time.Sleep(2500 * time.Millisecond)
	// Without back-off a worker that exits at once restarts hundreds of times a second.
	n := h.sup.Restarts()
	if n < loopRestarts || n > loopRestarts+6 {
		t.Errorf("%d restarts in 2.5 s, want about %d immediate ones then one per %v", n, loopRestarts, loopDelay)
	}
	if err := h.sup.Drain([]byte{'D'}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if after := h.sup.Restarts(); after > n+1 {
		t.Errorf("restarts continued after Drain: %d -> %d", n, after)
	}
}
