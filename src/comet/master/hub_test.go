package master

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/admin"
	"github.com/comet-lab/comet-lab/src/comet/control"
	"github.com/comet-lab/comet-lab/src/comet/supervise"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// fakeWorker is the worker end of a control socketpair: it records the messages (one or a batch per packet read)
// and acks each with a fixed count, as control.Handle does for the real workers.
type fakeWorker struct {
	conn    *supervise.Conn
	end     *os.File
	packets chan control.Message
	reads   atomic.Int64 // packets read: the worker's wake-ups
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
		packets: make(chan control.Message, 1000),
	}
	t.Cleanup(func() { w.conn.File.Close(); w.end.Close() })
	go func() {
		buf := make([]byte, control.MaxPacket)
		for {
			n, err := w.end.Read(buf)
			if err != nil || n == 0 {
				return
			}
			w.reads.Add(1)
			out, err := control.Handle(append([]byte(nil), buf[:n]...), nil, func(m *control.Message) uint64 {
				w.packets <- *m
				return answered
			}, func() { w.packets <- control.Message{Kind: control.Drain} })
			if err != nil {
				t.Errorf("worker %d: bad packet: %v", index, err)
				return
			}
			if ack && len(out) > 0 {
				w.end.Write(out)
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

// Publishes that arrive while a flush is under way go out together: one packet per worker for the lot, every
// message once and in seq order, each publish acknowledged with its own count.
func TestHubBatchesConcurrentPublishes(t *testing.T) {
	const n = 50
	hub := NewHub(64, 5*time.Second, quietLog())
	workers := []*fakeWorker{newFakeWorker(t, 0, 1, true), newFakeWorker(t, 1, 2, true)}
	for _, w := range workers {
		hub.Attach(w.conn)
	}
	hub.pubMu.Lock() // a flush under way: every publish below queues behind it
	results := make(chan admin.PushResult, n)
	for i := 0; i < n; i++ {
		go func() {
			res, err := hub.Publish(context.Background(), fmt.Sprintf("id-%d", i), false, []byte("m"))
			if err != nil {
				t.Error(err)
			}
			results <- res
		}()
	}
	waitUntil(t, func() bool { hub.mu.Lock(); defer hub.mu.Unlock(); return len(hub.outbox) == n })
	hub.pubMu.Unlock()
	for i := 0; i < n; i++ {
		if res := <-results; res.Answered != 3 || res.Partial {
			t.Errorf("publish seq %d: answered %d partial %v, want 3 (1 + 2) and complete", res.Seq, res.Answered, res.Partial)
		}
	}
	for _, w := range workers {
		var last uint64
		for i := 0; i < n; i++ {
			m := <-w.packets
			if m.Kind != control.Publish || m.Seq <= last {
				t.Fatalf("worker %d message %d: %c seq %d after %d", w.conn.Index, i, m.Kind, m.Seq, last)
			}
			last = m.Seq
		}
		if got := w.reads.Load(); got != 1 {
			t.Errorf("worker %d woke %d times for %d queued publishes, want 1", w.conn.Index, got, n)
		}
	}
}

// packBatch keeps order, fills packets up to MaxPacket, and sends a lone or an oversized message as itself.
func TestPackBatch(t *testing.T) {
	msg := func(size int) queued {
		p, _ := control.Append(nil, control.Message{Kind: control.Broadcast, Seq: uint64(size), Body: make([]byte, size)})
		return queued{pkt: p}
	}
	big := control.MaxPacket - 17 // the largest message: alone in its packet
	tests := []struct {
		name  string
		sizes []int
		want  string // per packet: "b<n>" a batch of n, "1" a lone message
	}{
		{"one", []int{10}, "[1]"},
		{"three small", []int{10, 20, 30}, "[b3]"},
		{"two halves", []int{30000, 30000, 30000}, "[b2 1]"},
		{"largest between small ones", []int{10, big, 10, 10}, "[1 1 b2]"},
	}
	for _, tc := range tests {
		var batch []queued
		for _, s := range tc.sizes {
			batch = append(batch, msg(s))
		}
		var got []string
		var seqs []uint64
		for _, p := range packBatch(batch) {
			if control.Kind(p.data[0]) == control.Batch {
				got = append(got, fmt.Sprintf("b%d", len(p.items)))
			} else {
				got = append(got, "1")
			}
			control.ForEach(p.data, func(pkt []byte) error {
				m, _ := control.Decode(pkt)
				seqs = append(seqs, m.Seq)
				return nil
			})
		}
		if fmt.Sprint(got) != tc.want || fmt.Sprint(seqs) != fmt.Sprint(tc.sizes) {
			t.Errorf("%s: packets %v carrying %v, want %s carrying %v", tc.name, got, seqs, tc.want, tc.sizes)
		}
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
	}
}
