package master

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/admin"
	"github.com/comet-lab/comet-lab/src/comet/control"
	"github.com/comet-lab/comet-lab/src/comet/supervise"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// fakeWorker is the worker end of a control socketpair: it records packets and acks with a fixed count.
type fakeWorker struct {
	conn    *supervise.Conn
	end     *os.File
	packets chan control.Message
}

func newFakeWorker(t *testing.T, index int, answered uint64, ack bool) *fakeWorker {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.SetNonblock(fds[0], true)
	w := &fakeWorker{
		conn:    &supervise.Conn{Index: index, File: os.NewFile(uintptr(fds[0]), "master")},
		end:     os.NewFile(uintptr(fds[1]), "worker"),
		packets: make(chan control.Message, 100),
	}
	t.Cleanup(func() { w.conn.File.Close(); w.end.Close() })
	go func() {
		buf := make([]byte, control.MaxPacket)
		for {
			n, err := w.end.Read(buf)
			if err != nil || n == 0 {
				return
			}
			m, err := control.Decode(append([]byte(nil), buf[:n]...))
			if err != nil {
				t.Errorf("worker %d: bad packet: %v", index, err)
				return
			}
			w.packets <- m
			if ack {
				p, _ := control.Append(nil, control.Message{Kind: control.Ack, Seq: m.Seq, Answered: answered})
				w.end.Write(p)
			}
		}
	}()
	return w
}

func quietLog() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

func TestHubFanOut(t *testing.T) {
	tests := []struct {
		name         string
		acks         []bool // per worker: does it acknowledge
		detachSilent bool   // the silent worker exits (Detach) while the publish waits
		wantAnswered uint64
		wantPartial  bool
	}{
		{name: "all ack", acks: []bool{true, true, true}, wantAnswered: 3 * 5},
		{name: "one silent", acks: []bool{true, false}, wantAnswered: 5, wantPartial: true},
		{name: "silent one exits", acks: []bool{true, false}, detachSilent: true, wantAnswered: 5},
		{name: "no workers", acks: nil, wantAnswered: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hub := NewHub(4, 300*time.Millisecond, quietLog())
			var workers []*fakeWorker
			for i, ack := range tc.acks {
				w := newFakeWorker(t, i, 5, ack)
				hub.Attach(w.conn)
				workers = append(workers, w)
			}
			if tc.detachSilent {
				go func() {
					time.Sleep(50 * time.Millisecond)
					hub.Detach(workers[1].conn)
				}()
			}
			began := time.Now()
			res, err := hub.Publish(context.Background(), "user-1", false, []byte("hello"))
			if err != nil {
				t.Fatal(err)
			}
			if res.Answered != tc.wantAnswered || res.Partial != tc.wantPartial {
				t.Errorf("got %+v, want answered %d partial %v", res, tc.wantAnswered, tc.wantPartial)
			}
			if !tc.wantPartial && time.Since(began) > 250*time.Millisecond {
				t.Errorf("publish waited %v although nothing was missing", time.Since(began))
			}
			for i, w := range workers {
				m := <-w.packets
				if m.Kind != control.Publish || m.Seq != res.Seq || string(m.ID) != "user-1" || string(m.Body) != "hello" {
					t.Errorf("worker %d got %+v", i, m)
				}
			}
		})
	}
}

func TestHubSeqsAndReplay(t *testing.T) {
	hub := NewHub(2, time.Second, quietLog())
	first := newFakeWorker(t, 0, 1, true)
	hub.Attach(first.conn)
	if p, b := hub.Counts(); p != 0 || b != 0 {
		t.Fatalf("counts %d/%d before any publish", p, b)
	}
	var results []admin.PushResult
	for i, body := range []string{"a", "b", "c"} {
		res, err := hub.Publish(context.Background(), "", true, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && res.Seq <= results[i-1].Seq {
			t.Fatalf("seq %d after %d: not increasing", res.Seq, results[i-1].Seq)
		}
		results = append(results, res)
	}
	if results[0].Seq < uint64(time.Now().Add(-time.Hour).UnixNano()) {
		t.Errorf("first seq %d does not start at the unix time in nanoseconds", results[0].Seq)
	}
	if _, b := hub.Counts(); b != 3 {
		t.Errorf("broadcasts counted %d, want 3", b)
	}
	// A restarted worker first receives the kept messages (the last 2), then new ones, in seq order.
	restarted := newFakeWorker(t, 0, 1, true)
	hub.Attach(restarted.conn)
	res, err := hub.Publish(context.Background(), "u", false, []byte("d"))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		seq  uint64
		body string
	}{{results[1].Seq, "b"}, {results[2].Seq, "c"}, {res.Seq, "d"}}
	for _, w := range want {
		m := <-restarted.packets
		if m.Seq != w.seq || string(m.Body) != w.body {
			t.Errorf("restarted worker got seq %d %q, want %d %q", m.Seq, m.Body, w.seq, w.body)
		}
	}
	// Its acks of replayed messages must not count toward a later publish.
	if res.Answered != 2 {
		t.Errorf("answered %d, want 2 (one per worker)", res.Answered)
	}
}

func TestHubRejectsBadPublish(t *testing.T) {
	hub := NewHub(2, time.Second, quietLog())
	if _, err := hub.Publish(context.Background(), "", false, []byte("x")); err == nil {
		t.Error("publish without id accepted")
	}
	if _, err := hub.Publish(context.Background(), "x", false, make([]byte, control.MaxPacket)); err == nil {
		t.Error("packet beyond control.MaxPacket accepted")
	}
	if p, _ := hub.Counts(); p != 0 {
		t.Errorf("rejected publishes counted: %d", p)
	}
}
