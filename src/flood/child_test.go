package flood

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// splitCloseServer answers the first `closing` connections with a response split across two writes and
// "Connection: close", then closes them; later connections are held without an answer.
type splitCloseServer struct {
	addr  string
	mu    sync.Mutex
	ports []int // source ports in accept order
}

func startSplitCloseServer(t *testing.T, closing int) *splitCloseServer {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &splitCloseServer{addr: ln.Addr().String()}
	var held []net.Conn
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range held {
			c.Close()
		}
		s.mu.Unlock()
	})
	go func() {
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.ports = append(s.ports, c.RemoteAddr().(*net.TCPAddr).Port)
			if n >= closing {
				held = append(held, c)
				s.mu.Unlock()
				continue
			}
			s.mu.Unlock()
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-")
				time.Sleep(50 * time.Millisecond)
				io.WriteString(c, "Length: 3\r\nConnection: close\r\n\r\nok\n")
			}()
		}
	}()
	return s
}

func TestChildRedialsAfterServerClose(t *testing.T) {
	const conns = 10
	srv := startSplitCloseServer(t, conns)
	plan := Plan{Proc: 3, Target: srv.addr, Conns: conns, Inflight: 4, Path: "/", ReportMs: 100,
		Sources: []SourcePlan{{Addr: "127.0.0.1", PortLo: 13000, PortHi: 13099}}}
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- RunChild(stdinR, stdoutW)
		stdoutW.Close()
	}()
	b, _ := json.Marshal(plan)
	go stdinW.Write(append(b, '\n'))

	reports := make(chan ChildReport, 100)
	go func() {
		sc := bufio.NewScanner(stdoutR)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r ChildReport
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Errorf("bad report %q: %v", sc.Text(), err)
			}
			reports <- r
		}
		close(reports)
	}()
	deadline := time.After(20 * time.Second)
	for ready := false; !ready; {
		select {
		case r := <-reports:
			ready = r.Established == conns && r.Reconnects == conns
		case <-deadline:
			t.Fatal("child never re-established all connections after the server closed them")
		}
	}
	stdinW.Close() // EOF on stdin stops the child
	var final ChildReport
	for r := range reports {
		final = r
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !final.Final || final.Established != conns || final.PeakEstablished != conns {
		t.Errorf("final report %+v: want final, established and peak %d", final, conns)
	}
	if final.Responses != conns || final.ClosedByServer != conns || final.Reconnects != conns {
		t.Errorf("responses %d closed_by_server %d reconnects %d, want %d each (split responses must parse)",
			final.Responses, final.ClosedByServer, final.Reconnects, conns)
	}
	if final.ProtocolErrors != 0 || len(final.ConnectErrors) != 0 {
		t.Errorf("protocol errors %d, connect errors %v; want none", final.ProtocolErrors, final.ConnectErrors)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	seen := map[int]bool{}
	for _, p := range srv.ports {
		if p < 13000 || p > 13099 {
			t.Errorf("source port %d outside the plan's 13000-13099", p)
		}
		if seen[p] {
			t.Errorf("port %d reused: re-dials must take a fresh port", p)
		}
		seen[p] = true
	}
	if len(srv.ports) != 2*conns {
		t.Errorf("server accepted %d connections, want %d", len(srv.ports), 2*conns)
	}
}
