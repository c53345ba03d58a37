package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/admin"
	"github.com/comet-lab/comet-lab/src/comet/cometcfg"
	"github.com/comet-lab/comet-lab/src/lib/adminclient"
	"github.com/comet-lab/comet-lab/src/lib/schema"
	"github.com/comet-lab/comet-lab/src/testkit/workertest"
)

// buildComet compiles this command once per test binary run.
var buildComet = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "comet-e2e-")
	if err != nil {
		return "", err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "comet")
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := buildComet(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

type instance struct {
	t          *testing.T
	cmd        *exec.Cmd
	log        *workertest.LogBuffer
	listen     string
	admin      string
	exited     chan struct{}
	exitErr    error
	httpClient *http.Client
}

func startComet(t *testing.T, args ...string) *instance {
	t.Helper()
	bin, err := buildComet()
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{
		t: t, log: &workertest.LogBuffer{}, exited: make(chan struct{}),
		listen:     fmt.Sprintf("127.0.0.1:%d", workertest.FreePort(t)),
		admin:      fmt.Sprintf("127.0.0.1:%d", workertest.FreePort(t)),
		httpClient: &http.Client{Timeout: 15 * time.Second},
	}
	in.cmd = exec.Command(bin, append([]string{"-listen", in.listen, "-admin", in.admin}, args...)...)
	in.cmd.Stderr = in.log
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { in.exitErr = in.cmd.Wait(); close(in.exited) }()
	t.Cleanup(func() {
		select {
		case <-in.exited:
		default:
			in.cmd.Process.Kill()
			<-in.exited
		}
		if t.Failed() {
			t.Logf("comet log:\n%s", in.log)
		}
	})
	in.waitFor("admin listener", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", in.admin)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return in
}

func (in *instance) waitFor(what string, limit time.Duration, cond func() bool) time.Duration {
	in.t.Helper()
	start := time.Now()
	for !cond() {
		select {
		case <-in.exited:
			in.t.Fatalf("comet exited (%v) while waiting for %s", in.exitErr, what)
		default:
		}
		if time.Since(start) > limit {
			in.t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func (in *instance) stats() schema.Stats {
	in.t.Helper()
	st, err := adminclient.Stats(in.httpClient, "http://"+in.admin, "")
	if err != nil {
		in.t.Fatal(err)
	}
	return st
}

func (in *instance) post(path, body string) admin.PushResult {
	in.t.Helper()
	resp, err := in.httpClient.Post("http://"+in.admin+path, "text/plain", strings.NewReader(body))
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		in.t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	var res admin.PushResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		in.t.Fatal(err)
	}
	return res
}

type answer struct {
	status int // 0: connection broken
	header http.Header
	body   string
}

// hold opens n connections, each sending one GET for target(i); every answer arrives on the channel.
func (in *instance) hold(n int, target func(i int) string) <-chan answer {
	in.t.Helper()
	answers := make(chan answer, n)
	for i := range n {
		c, err := net.Dial("tcp", in.listen)
		if err != nil {
			in.t.Fatal(err)
		}
		in.t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: comet\r\n\r\n", target(i))
		go func() {
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				answers <- answer{}
				return
			}
			body, _ := io.ReadAll(resp.Body)
			answers <- answer{resp.StatusCode, resp.Header, string(body)}
		}()
	}
	return answers
}

func TestEndToEnd(t *testing.T) {
	for _, engine := range []string{"netpoll", "goroutine"} {
		t.Run(engine, func(t *testing.T) { endToEnd(t, engine) })
	}
}

func endToEnd(t *testing.T, engine string) {
	// Holds far longer than the test needs, so every answer seen is a push or a drain, never the hold timer.
	in := startComet(t, "-engine", engine, "-procs", "2", "-hold-min", "60s", "-hold-max", "60s", "-drain-timeout", "3s")
	in.waitFor("2 workers with pids", 10*time.Second, func() bool {
		st := in.stats()
		return st.Procs == 2 && st.Workers[0].PID > 0 && st.Workers[1].PID > 0 && st.PSSBytes > 0
	})
	idle := in.stats()
	t.Logf("%s idle: master pss %d B (rss %d), worker pss %d / %d B, total pss %d B", engine, idle.MasterPSS,
		idle.MasterRSS, idle.Workers[0].PSSBytes, idle.Workers[1].PSSBytes, idle.PSSBytes)

	// Push: a broadcast answers every held subscriber, a publish only its id.
	const subs = 20
	subAnswers := in.hold(subs, func(i int) string { return fmt.Sprintf("/sub?id=s%d&since=0", i) })
	in.waitFor("subscribers held", 10*time.Second, func() bool { return in.stats().Held == subs })
	res := in.post("/broadcast", "to-all")
	if res.Answered != subs || res.Partial {
		t.Fatalf("broadcast: %+v, want answered %d", res, subs)
	}
	for range subs {
		a := <-subAnswers
		if a.status != 200 || a.body != "to-all" || a.header.Get("X-Kind") != "broadcast" || a.header.Get("X-Seq") != fmt.Sprint(res.Seq) {
			t.Fatalf("subscriber got %+v, want the broadcast seq %d", a, res.Seq)
		}
	}
	since := res.Seq
	mine := in.hold(1, func(int) string { return fmt.Sprintf("/sub?id=p1&since=%d", since) })
	other := in.hold(1, func(int) string { return fmt.Sprintf("/sub?id=p2&since=%d", since) })
	in.waitFor("2 subscribers held", 10*time.Second, func() bool { return in.stats().Held == 2 })
	if res := in.post("/pub?id=p1", "just-you"); res.Answered != 1 || res.Seq <= since {
		t.Fatalf("publish: %+v, want answered 1 and seq above %d", res, since)
	}
	if a := <-mine; a.status != 200 || a.body != "just-you" || a.header.Get("X-Kind") != "pub" {
		t.Fatalf("subscriber p1 got %+v", a)
	}
	in.waitFor("p2 still held, answered connections gone", 10*time.Second, func() bool {
		st := in.stats()
		return st.Held == 1 && st.Conns == 1
	})

	// Hold 200 plain requests across both workers.
	const conns = 200
	plain := in.hold(conns, func(int) string { return "/" })
	in.waitFor("200 more held", 10*time.Second, func() bool { st := in.stats(); return st.Held == conns+1 && st.Conns == conns+1 })
	st := in.stats()
	if st.Procs != 2 || st.PSSBytes == 0 || st.Workers[0].PSSBytes == 0 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("%s with %d held: total pss %d B, workers %d / %d B", engine, conns+1, st.PSSBytes, st.Workers[0].PSSBytes, st.Workers[1].PSSBytes)

	// kill -9 the busier worker: a new pid in its slot within about a second; the other's requests live on.
	victim := 0
	if st.Workers[1].Held > st.Workers[0].Held {
		victim = 1
	}
	survivor := 1 - victim
	heldBySurvivor := int(st.Workers[survivor].Held)
	oldPID := st.Workers[victim].PID
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	took := in.waitFor("restarted worker", 10*time.Second, func() bool {
		w := in.stats().Workers[victim]
		return w.PID != 0 && w.PID != oldPID
	})
	t.Logf("slot %d restarted in %v (%d requests held by the other worker)", victim, took, heldBySurvivor)
	if took > 2*time.Second {
		t.Errorf("restart took %v, want about 1 s at most", took)
	}
	if st := in.stats(); st.Restarts != 1 || st.Workers[victim].Restarts != 1 {
		t.Errorf("restarts %d (slot %d: %d), want 1", st.Restarts, victim, st.Workers[victim].Restarts)
	}

	// SIGTERM: every request still held is answered 200 (drain), and the master exits 0.
	began := time.Now()
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The survivor held plain requests and maybe subscriber p2; the killed worker's connections are broken.
	ok := 0
	for range conns {
		if a := <-plain; a.status == 200 {
			ok++
		}
	}
	if a := <-other; a.status == 200 {
		ok++
	}
	if ok != heldBySurvivor {
		t.Errorf("%d held requests answered 200, want the %d held by the surviving worker", ok, heldBySurvivor)
	}
	select {
	case <-in.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("master did not exit within 10 s of SIGTERM")
	}
	if in.exitErr != nil {
		t.Errorf("master exit: %v, want status 0", in.exitErr)
	}
	t.Logf("drained and exited %v after SIGTERM", time.Since(began))
}

func TestFlagErrors(t *testing.T) {
	bin, err := buildComet()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args       []string
		env        string
		wantStatus int
		wantOutput string
	}{
		{args: []string{"-h"}, wantStatus: 0, wantOutput: "-hold-min"},
		{args: []string{"-procs", "x"}, wantStatus: 2, wantOutput: "-procs"},
		{args: []string{"-procs", "0"}, wantStatus: 2, wantOutput: "-procs 0"},
		{args: []string{"-engine", "threads"}, wantStatus: 2, wantOutput: "-engine"},
		{args: []string{"-nope"}, wantStatus: 2, wantOutput: "-nope"},
		{args: []string{"-log-level", "loud"}, wantStatus: 2, wantOutput: "-log-level"},
		{args: []string{"extra"}, wantStatus: 2, wantOutput: "unexpected argument"},
		{args: []string{"-admin", "0.0.0.0:0", "-listen", "127.0.0.1:0"}, wantStatus: 2, wantOutput: "-admin-token"},
		{args: []string{"-listen", "127.0.0.1:99999"}, wantStatus: 1, wantOutput: "-listen"},
		{args: []string{cometcfg.WorkerArg}, wantStatus: 2, wantOutput: "COMET_WORKER_INDEX"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = append(os.Environ(), "COMET_ADMIN_TOKEN=")
			out, err := cmd.CombinedOutput()
			status := 0
			if ee, ok := err.(*exec.ExitError); ok {
				status = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != tc.wantStatus || !strings.Contains(string(out), tc.wantOutput) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and %q", status, out, tc.wantStatus, tc.wantOutput)
			}
		})
	}
}

func TestListenInUse(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bin, err := buildComet()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-listen", l.Addr().String(), "-admin", "").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "-listen") || !strings.Contains(string(out), "address already in use") {
		t.Errorf("err %v, output %s: want exit 1 naming -listen and the bind error", err, out)
	}
}
