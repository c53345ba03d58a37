package netpoll

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/control"
	"github.com/comet-lab/comet-lab/src/comet/stats"
	"golang.org/x/sys/unix"
)

func subReq(id string, since uint64) string {
	return fmt.Sprintf("GET /sub?id=%s&since=%d HTTP/1.1\r\nHost: x\r\n\r\n", id, since)
}

// checkMessage asserts a is the message answer for seq.
func checkMessage(t *testing.T, a answer, seq uint64, kind, body string) {
	t.Helper()
	if a.Status != 200 || a.Seq != seq || a.PubNanos != int64(seq)*1000 || string(a.Body) != body ||
		!strings.Contains(a.Head, "X-Kind: "+kind+"\r\n") {
		t.Fatalf("answer %q body %q, want seq %d kind %s body %q", a.Head, a.Body, seq, kind, body)
	}
}

func TestPush(t *testing.T) {
	const subs = 2000
	cfg := testConfig()
	cfg.HoldMin, cfg.HoldMax = time.Minute, time.Minute
	tw := startWorker(t, cfg)

	// Publish to one held id.
	between := dial(t, tw.port)
	between.write(t, subReq("between", 0))
	plain := dial(t, tw.port) // a plain held GET is not a subscriber
	plain.write(t, getReq)
	tw.waitCounter(t, stats.Held, 2)
	if ack := tw.send(t, control.Message{Kind: control.Publish, Seq: 1, PubNanos: 1000, ID: []byte("between"), Body: []byte("hi")}); ack.Answered != 1 {
		t.Fatalf("publish answered %d, want 1", ack.Answered)
	}
	checkMessage(t, between.response(t, 3*time.Second, false), 1, "pub", "hi")
	// "between" does not re-poll yet: it is between polls during the broadcast.

	// Publish to an id nobody holds: kept for its first poll.
	if ack := tw.send(t, control.Message{Kind: control.Publish, Seq: 2, PubNanos: 2000, ID: []byte("later"), Body: []byte("stored")}); ack.Answered != 0 {
		t.Fatalf("publish to absent id answered %d", ack.Answered)
	}

	clients := make([]*client, subs)
	for i := range clients {
		clients[i] = dial(t, tw.port)
		clients[i].write(t, subReq(fmt.Sprintf("s%d", i), 2))
	}
	tw.waitCounter(t, stats.Held, subs+1)
	start := time.Now()
	ack := tw.send(t, control.Message{Kind: control.Broadcast, Seq: 3, PubNanos: 3000, Body: []byte("all")})
	t.Logf("broadcast to %d held subscribers acked in %v", subs, time.Since(start))
	if ack.Answered != subs {
		t.Fatalf("broadcast answered %d, want %d", ack.Answered, subs)
	}
	for _, c := range clients {
		checkMessage(t, c.response(t, 3*time.Second, false), 3, "broadcast", "all")
	}
	// Exactly once: re-polls with the new since are held again, nothing more arrives.
	for _, c := range clients {
		c.write(t, subReq("x", 3))
	}
	tw.waitCounter(t, stats.Held, subs+1)
	clients[0].expectOpen(t, 100*time.Millisecond)
	clients[subs-1].expectOpen(t, 10*time.Millisecond)
	plain.expectOpen(t, 10*time.Millisecond)

	// The subscriber that was between polls gets the broadcast at once with its old since.
	between.write(t, subReq("between", 1))
	checkMessage(t, between.response(t, 3*time.Second, false), 3, "broadcast", "all")
	// And an id published to before its first poll gets that message first.
	later := dial(t, tw.port)
	later.write(t, subReq("later", 0))
	checkMessage(t, later.response(t, 3*time.Second, false), 2, "pub", "stored")
	later.write(t, subReq("later", 2))
	checkMessage(t, later.response(t, 3*time.Second, false), 3, "broadcast", "all")

	if got := tw.get(stats.PushDelivered); got != subs+4 {
		t.Fatalf("push_delivered = %d, want %d", got, subs+4)
	}
}

func TestSubHoldTimerAnswersEmpty(t *testing.T) {
	cfg := testConfig()
	tw := startWorker(t, cfg)
	c := dial(t, tw.port)
	c.write(t, subReq("quiet", 0))
	a := c.response(t, 3*time.Second, false)
	if a.Status != 200 || len(a.Body) != 0 || a.Seq != 0 {
		t.Fatalf("timed-out poll got %q body %q, want an empty 200", a.Head, a.Body)
	}
}

func TestDrain(t *testing.T) {
	tests := []struct {
		name    string
		trigger func(t *testing.T, tw *testWorker)
	}{
		{"control drain packet", func(t *testing.T, tw *testWorker) {
			p, _ := control.Append(nil, control.Message{Kind: control.Drain})
			if _, err := unix.Write(tw.ctl, p); err != nil {
				t.Fatal(err)
			}
		}},
		{"control EOF", func(t *testing.T, tw *testWorker) { unix.Close(tw.ctl); tw.ctl = -1 }},
		{"SIGTERM", func(t *testing.T, tw *testWorker) { unix.Kill(os.Getpid(), unix.SIGTERM) }},
	}
	warm, _ := net.Listen("tcp4", "127.0.0.1:0") // the runtime's own poller fds exist before counting
	warm.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fdsBefore := countFDs(t)
			cfg := testConfig()
			cfg.HoldMin, cfg.HoldMax = time.Minute, time.Minute
			tw := startWorker(t, cfg)
			var held, subs []*client
			for i := 0; i < 20; i++ {
				c := dial(t, tw.port)
				c.write(t, getReq)
				held = append(held, c)
			}
			for i := 0; i < 5; i++ {
				c := dial(t, tw.port)
				c.write(t, subReq(fmt.Sprintf("d%d", i), 0))
				subs = append(subs, c)
			}
			idle := dial(t, tw.port)
			head := dial(t, tw.port)
			head.write(t, "GET / HTTP/1.1\r\n")
			tw.waitCounter(t, stats.Held, 25)
			tw.waitCounter(t, stats.Heads, 1)
			tw.waitCounter(t, stats.Conns, 27)

			start := time.Now()
			tc.trigger(t, tw)
			for i, c := range append(held, subs...) {
				a := c.response(t, 3*time.Second, false)
				wantBody := "ok\n"
				if i >= len(held) {
					wantBody = ""
				}
				if a.Status != 200 || !a.Close || string(a.Body) != wantBody {
					t.Fatalf("held request %d got %q body %q on drain", i, a.Head, a.Body)
				}
				c.expectClosed(t, 3*time.Second)
			}
			idle.expectClosed(t, 3*time.Second)
			head.expectClosed(t, 3*time.Second)
			select {
			case err := <-tw.errc:
				if err != nil {
					t.Fatalf("RunWorker = %v", err)
				}
				tw.done = true
			case <-time.After(5 * time.Second):
				t.Fatal("RunWorker did not return after the drain")
			}
			t.Logf("drained in %v", time.Since(start))
			if _, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", tw.port)); err == nil {
				t.Fatal("listener still accepting after the drain")
			}
			for _, c := range [][2]stats.Counter{{stats.Conns, 0}, {stats.Held, 0}, {stats.Heads, 0}, {stats.Responses, 25}} {
				if got := tw.get(c[0]); got != uint64(c[1]) {
					t.Fatalf("%s = %d after drain, want %d", stats.Names[c[0]], got, c[1])
				}
			}
			for _, c := range append(append(held, subs...), idle, head) {
				c.Close()
			}
			if tw.ctl >= 0 {
				unix.Close(tw.ctl)
			}
			unix.Close(tw.wctl)
			if after := countFDs(t); after != fdsBefore {
				t.Fatalf("%d fds open after the worker returned, %d before", after, fdsBefore)
			}
		})
	}
}

// TestSubEntryFollowsTheLastPoll: a conn's subscriber entry outlives its poll (no allocation on the next one), so
// routing must follow the id of the conn's latest poll and the latest conn polling an id.
func TestSubEntryFollowsTheLastPoll(t *testing.T) {
	tests := []struct {
		name   string
		polls  []string // ids polled one after the other on one conn (each but the last answered by a publish)
		pubTo  string
		wantOK bool
	}{
		{"same id again", []string{"a", "a"}, "a", true},
		{"switched id: the old one no longer routes here", []string{"a", "b"}, "a", false},
		{"switched id: the new one does", []string{"a", "b"}, "b", true},
		{"switched back", []string{"a", "b", "a"}, "a", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.HoldMin, cfg.HoldMax = time.Minute, time.Minute
			tw := startWorker(t, cfg)
			c := dial(t, tw.port)
			seq := uint64(0)
			for i, id := range tc.polls {
				c.write(t, subReq(id, seq))
				tw.waitCounter(t, stats.Held, 1)
				if i == len(tc.polls)-1 {
					break
				}
				seq++
				tw.send(t, control.Message{Kind: control.Publish, Seq: seq, PubNanos: int64(seq) * 1000, ID: []byte(id), Body: []byte("m")})
				checkMessage(t, c.response(t, 3*time.Second, false), seq, "pub", "m")
			}
			seq++
			ack := tw.send(t, control.Message{Kind: control.Publish, Seq: seq, PubNanos: int64(seq) * 1000, ID: []byte(tc.pubTo), Body: []byte("x")})
			if got := ack.Answered == 1; got != tc.wantOK {
				t.Fatalf("publish to %q answered %d, want delivered=%v", tc.pubTo, ack.Answered, tc.wantOK)
			}
			if tc.wantOK {
				checkMessage(t, c.response(t, 3*time.Second, false), seq, "pub", "x")
			}
		})
	}
}

// TestLatestConnPollingAnIDWins: two conns poll one id; the later gets the id's publish, and once it closes the
// id routes nowhere (the earlier conn is still held until its timer or a broadcast).
func TestLatestConnPollingAnIDWins(t *testing.T) {
	cfg := testConfig()
	cfg.HoldMin, cfg.HoldMax = time.Minute, time.Minute
	tw := startWorker(t, cfg)
	first, second := dial(t, tw.port), dial(t, tw.port)
	first.write(t, subReq("dup", 0))
	tw.waitCounter(t, stats.Held, 1)
	second.write(t, subReq("dup", 0))
	tw.waitCounter(t, stats.Held, 2)
	if ack := tw.send(t, control.Message{Kind: control.Publish, Seq: 1, PubNanos: 1000, ID: []byte("dup"), Body: []byte("m")}); ack.Answered != 1 {
		t.Fatalf("publish answered %d, want 1", ack.Answered)
	}
	checkMessage(t, second.response(t, 3*time.Second, false), 1, "pub", "m")
	second.Close()
	tw.waitCounter(t, stats.Conns, 1)
	if ack := tw.send(t, control.Message{Kind: control.Publish, Seq: 2, PubNanos: 2000, ID: []byte("dup"), Body: []byte("n")}); ack.Answered != 0 {
		t.Fatalf("publish after the latest poller closed answered %d, want 0", ack.Answered)
	}
	if ack := tw.send(t, control.Message{Kind: control.Broadcast, Seq: 3, PubNanos: 3000, Body: []byte("all")}); ack.Answered != 1 {
		t.Fatalf("broadcast answered %d, want 1 (the earlier poller)", ack.Answered)
	}
	checkMessage(t, first.response(t, 3*time.Second, false), 3, "broadcast", "all")
}

// A batch of messages from the master is handled in order in one wake-up and acknowledged with one batch of acks.
func TestBatchedMessages(t *testing.T) {
	cfg := testConfig()
	cfg.HoldMin, cfg.HoldMax = time.Minute, time.Minute
	tw := startWorker(t, cfg)
	a, b := dial(t, tw.port), dial(t, tw.port)
	a.write(t, subReq("a", 0))
	b.write(t, subReq("b", 0))
	tw.waitCounter(t, stats.Held, 2)
	var batch []byte
	for _, m := range []control.Message{
		{Kind: control.Publish, Seq: 1, PubNanos: 1000, ID: []byte("a"), Body: []byte("to a")},
		{Kind: control.Publish, Seq: 2, PubNanos: 2000, ID: []byte("b"), Body: []byte("to b")},
		{Kind: control.Broadcast, Seq: 3, PubNanos: 3000, Body: []byte("all")},
	} {
		p, _ := control.Append(nil, m)
		batch, _ = control.AppendToBatch(batch, p)
	}
	reply := tw.sendPacket(t, batch)
	var acks []string
	if err := control.ForEach(reply, func(p []byte) error {
		m, err := control.Decode(p)
		acks = append(acks, fmt.Sprintf("%c%d:%d", m.Kind, m.Seq, m.Answered))
		return err
	}); err != nil || control.Kind(reply[0]) != control.Batch {
		t.Fatalf("acks %v (batch %v), err %v", acks, control.Kind(reply[0]) == control.Batch, err)
	}
	// Both subscribers were answered by their own message; the broadcast found nobody held and waits in the store.
	if want := "[A1:1 A2:1 A3:0]"; fmt.Sprint(acks) != want {
		t.Errorf("acks %v, want %s", acks, want)
	}
	checkMessage(t, a.response(t, 3*time.Second, false), 1, "pub", "to a")
	checkMessage(t, b.response(t, 3*time.Second, false), 2, "pub", "to b")
	a.write(t, subReq("a", 1))
	checkMessage(t, a.response(t, 3*time.Second, false), 3, "broadcast", "all")
}
