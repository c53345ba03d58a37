package netpoll

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/cometcfg"
	"github.com/comet-lab/comet-lab/src/comet/control"
	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/comet-lab/comet-lab/src/lib/netloop"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// childEnv makes the test binary run emfileChild instead of the tests.
const childEnv = "COMET_SERVER_TEST_CHILD"

const childFDLimit = 64

func TestMain(m *testing.M) {
	var child func() error
	switch os.Getenv(childEnv) {
	case "emfile":
		child = emfileChild
	case "clients":
		child = clientsChild
	}
	if child != nil {
		if err := child(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// emfileChild serves with a tiny fd limit: counters in the inherited stats memfd (fd 3), port on stdout,
// SIGTERM ends it.
func emfileChild() error {
	table, err := stats.Open(3)
	if err != nil {
		return err
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: childFDLimit, Max: childFDLimit}); err != nil {
		return err
	}
	lfd, err := netloop.Listen("127.0.0.1:0", 1024, false)
	if err != nil {
		return err
	}
	port, err := netloop.LocalPort(lfd)
	if err != nil {
		return err
	}
	fmt.Println(port)
	cfg := testConfig()
	cfg.IdleTimeout = time.Minute
	log := logrus.New()
	log.SetOutput(io.Discard)
	return RunWorker(cfg, cometcfg.Worker{ListenFD: lfd, Slot: table.Slot(0), ControlFD: -1, Log: log})
}

// cpuTicks is utime+stime of pid in clock ticks.
func cpuTicks(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return ut + st
}

func TestEmfilePausesWithoutSpinning(t *testing.T) {
	table, err := stats.Create(1)
	if err != nil {
		t.Fatal(err)
	}
	defer table.Close()
	slot := table.Slot(0)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=emfile")
	// A dup owned by an *os.File: the File's finalizer must not close the table's fd number later.
	dup, err := unix.Dup(table.FD)
	if err != nil {
		t.Fatal(err)
	}
	statsFile := os.NewFile(uintptr(dup), "stats")
	defer statsFile.Close()
	cmd.ExtraFiles = []*os.File{statsFile}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	defer func() {
		cmd.Process.Signal(unix.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("child exit: %v", err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Error("child did not exit after SIGTERM")
		}
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child port: %v", err)
	}
	go func() { exited <- cmd.Wait() }()
	port, _ := strconv.Atoi(strings.TrimSpace(line))
	tw := &testWorker{slot: slot}

	const conns = 2 * childFDLimit
	clients := make([]*client, conns)
	for i := range clients {
		clients[i] = dial(t, port) // completes in the backlog even when the child cannot accept
	}
	waitFor(t, 10*time.Second, func() bool { return slot.Get(stats.EmfilePauses) > 0 },
		func() string { return "no EMFILE pause counted" })
	time.Sleep(200 * time.Millisecond)
	accepted := slot.Get(stats.Accepted)
	if accepted == 0 || accepted >= conns {
		t.Fatalf("accepted %d of %d with a limit of %d fds", accepted, conns, childFDLimit)
	}
	before := cpuTicks(t, cmd.Process.Pid)
	time.Sleep(2 * time.Second)
	if used := cpuTicks(t, cmd.Process.Pid) - before; used > 50 { // 0.5 s at 100 ticks/s
		t.Fatalf("child used %d ticks of CPU in 2 s while paused: spinning", used)
	}
	// Freeing fds lets it accept again.
	for _, c := range clients[:30] {
		c.Close()
	}
	tw.waitCounter(t, stats.Accepted, accepted+30)
	if got := slot.Get(stats.Conns); got != accepted {
		t.Fatalf("conns = %d, want %d after 30 closed and 30 accepted", got, accepted)
	}
	t.Logf("accepted %d, pauses %d", accepted, slot.Get(stats.EmfilePauses))
}

// rawConn is a blocking client socket without net.Conn, so the client side allocates nothing.
func rawConn(t testing.TB, port int) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	return fd
}

func TestNoAllocationPerRequest(t *testing.T) {
	cfg := testConfig()
	cfg.HoldMin, cfg.HoldMax = 0, 0
	tw := startWorker(t, cfg)
	fd := rawConn(t, tw.port)
	defer unix.Close(fd)
	req := []byte(getReq)
	want := len("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
	buf := make([]byte, 4096)
	cycle := func() {
		if _, err := unix.Write(fd, req); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < want; {
			n, err := unix.Read(fd, buf)
			if err != nil || n == 0 {
				t.Fatalf("read: %d %v", n, err)
			}
			got += n
		}
	}
	for i := 0; i < 200; i++ {
		cycle()
	}
	const cycles = 3000
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := 0; i < cycles; i++ {
		cycle()
	}
	runtime.ReadMemStats(&m1)
	if allocs := m1.Mallocs - m0.Mallocs; allocs > cycles/20 {
		t.Fatalf("%d allocations for %d request/answer cycles", allocs, cycles)
	}
}

// BenchmarkHeldConnMemory reports the worker's heap per held connection (run with -benchtime=1x).
func BenchmarkHeldConnMemory(b *testing.B) {
	for _, sub := range []bool{false, true} {
		name := "GET"
		if sub {
			name = "sub"
		}
		b.Run(name, func(b *testing.B) { benchHeld(b, 10000, sub) })
	}
}

// clientsChild opens COMET_CHILD_N held requests to COMET_CHILD_PORT (COMET_CHILD_SUB=1: /sub polls), prints
// "ready" and keeps them open until stdin closes. Clients live in their own process so the worker's fds are as
// dense as in production, where every fd of a worker is one of its connections.
func clientsChild() error {
	port, _ := strconv.Atoi(os.Getenv("COMET_CHILD_PORT"))
	n, _ := strconv.Atoi(os.Getenv("COMET_CHILD_N"))
	sub := os.Getenv("COMET_CHILD_SUB") == "1"
	for i := 0; i < n; i++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return err
		}
		req := getReq
		if sub {
			req = fmt.Sprintf("GET /sub?id=u%d&since=0 HTTP/1.1\r\nHost: x\r\n\r\n", i)
		}
		if _, err := unix.Write(fd, []byte(req)); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return nil
}

func benchHeld(b *testing.B, n int, sub bool) {
	cfg := testConfig()
	cfg.HoldMin, cfg.HoldMax, cfg.Tick = 10*time.Minute, 10*time.Minute, time.Second
	tw := startWorker(b, cfg)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	subEnv := "0"
	if sub {
		subEnv = "1"
	}
	cmd.Env = append(os.Environ(), childEnv+"=clients", fmt.Sprintf("COMET_CHILD_PORT=%d", tw.port),
		fmt.Sprintf("COMET_CHILD_N=%d", n), "COMET_CHILD_SUB="+subEnv)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
		// Closing thousands of loopback sockets is slow in the kernel, not in the worker.
		waitFor(b, time.Minute, func() bool { return tw.get(stats.Conns) == 0 }, func() string { return "conns left open" })
	}()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		b.Fatalf("clients child: %q %v", line, err)
	}
	tw.waitCounter(b, stats.Held, uint64(n))
	runtime.GC()
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/float64(n), "heapalloc-B/conn")
	b.ReportMetric(float64(int64(m1.HeapInuse)-int64(m0.HeapInuse))/float64(n), "heapinuse-B/conn")
	if sub {
		start := time.Now()
		ack := tw.send(b, control.Message{Kind: control.Broadcast, Seq: 1, PubNanos: 1, Body: []byte("hello")})
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "broadcast-ms")
		if ack.Answered != uint64(n) {
			b.Fatalf("broadcast answered %d of %d", ack.Answered, n)
		}
	}
}
