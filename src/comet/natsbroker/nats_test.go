package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/broker"
	"github.com/comet-lab/comet-lab/src/testkit/natstest"
	"github.com/sirupsen/logrus"
)

// node is one broker client with what it was handed.
type node struct {
	*NATS
	mu  sync.Mutex
	got []broker.Message
}

func connectNode(t *testing.T, url string, keep int) *node {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	nd := &node{}
	b, err := Connect(Config{URLs: url, Stream: "TEST", Keep: keep, Log: log}, func(m broker.Message) {
		m.Body = append([]byte(nil), m.Body...)
		nd.mu.Lock()
		nd.got = append(nd.got, m)
		nd.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	nd.NATS = b
	t.Cleanup(b.Close)
	return nd
}

// waitFor waits until the node was handed n messages and returns them.
func (nd *node) waitFor(t *testing.T, n int) []broker.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		nd.mu.Lock()
		got := append([]broker.Message(nil), nd.got...)
		nd.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Fatalf("handed %d messages, want %d: %+v", len(got), n, got)
			}
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// publish retries while the node's first connection and stream set-up are still under way.
func publish(t *testing.T, nd *node, m broker.Message) uint64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		seq, err := nd.Publish(context.Background(), m)
		if err == nil {
			return seq
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %q: %v", m.Body, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEveryNodeGetsEachMessageOnceInOrder(t *testing.T) {
	srv := natstest.Start(t)
	a, b := connectNode(t, srv.URL(), 4), connectNode(t, srv.URL(), 4)
	sent := []broker.Message{
		{Broadcast: true, Body: []byte("one"), MsgID: "a-1", PubNanos: 11},
		{ID: "sub-7", Body: []byte("two"), MsgID: "b-1", PubNanos: 12},
		{Broadcast: true, Body: []byte("three"), MsgID: "a-2", PubNanos: 13},
	}
	pubs := []*node{a, b, a}
	for i, m := range sent {
		seq := publish(t, pubs[i], m)
		if seq != uint64(i+1) {
			t.Fatalf("message %d got stream seq %d, want %d", i, seq, i+1)
		}
	}
	// A repeated MsgID (a retried publish) is stored once.
	if seq := publish(t, a, sent[0]); seq != 1 {
		t.Fatalf("repeated publish got seq %d, want the first one's 1", seq)
	}
	for name, nd := range map[string]*node{"a": a, "b": b} {
		got := nd.waitFor(t, len(sent))
		for i, m := range got {
			w := sent[i]
			if m.Seq != uint64(i+1) || string(m.Body) != string(w.Body) || m.Broadcast != w.Broadcast || m.ID != w.ID ||
				m.MsgID != w.MsgID || m.PubNanos != w.PubNanos {
				t.Errorf("node %s message %d = %+v, want %+v with seq %d", name, i, m, w, i+1)
			}
		}
	}
	if c := a.Counters(); !c.Connected || c.Out != 3 || c.In != 3 || c.Dropped != 0 {
		t.Errorf("node a counters %+v, want connected, out 3 (the repeat is no new message), in 3, dropped 0", c)
	}
	// A node that starts later reads the last Keep (4) messages: a moved subscriber resumes there.
	for i := 0; i < 3; i++ {
		publish(t, a, broker.Message{Broadcast: true, Body: []byte(fmt.Sprint("more", i)), MsgID: fmt.Sprint("a-more-", i)})
	}
	late := connectNode(t, srv.URL(), 4)
	got := late.waitFor(t, 4)
	if got[0].Seq != 3 || got[3].Seq != 6 {
		t.Errorf("late node read seqs %d..%d, want 3..6", got[0].Seq, got[3].Seq)
	}
}

func TestBrokerDownAndBack(t *testing.T) {
	srv := natstest.Start(t)
	a, b := connectNode(t, srv.URL(), 8), connectNode(t, srv.URL(), 8)
	publish(t, a, broker.Message{Broadcast: true, Body: []byte("before"), MsgID: "a-1"})
	b.waitFor(t, 1)

	srv.Stop()
	waitCounters(t, a, "disconnected", func(c broker.Counters) bool { return !c.Connected })
	start := time.Now()
	if _, err := a.Publish(context.Background(), broker.Message{Broadcast: true, Body: []byte("lost"), MsgID: "a-2"}); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("publish with the broker down: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("publish with the broker down took %v, want a fast failure", d)
	}

	srv.Restart()
	for _, nd := range []*node{a, b} {
		waitCounters(t, nd, "reconnected", func(c broker.Counters) bool { return c.Connected && c.Reconnects >= 1 })
	}
	// The stream survived (file store): seqs carry on, both nodes get the new message once.
	if seq := publish(t, b, broker.Message{Broadcast: true, Body: []byte("after"), MsgID: "b-1"}); seq != 2 {
		t.Errorf("first seq after the restart %d, want 2", seq)
	}
	for _, nd := range []*node{a, b} {
		if got := nd.waitFor(t, 2); string(got[1].Body) != "after" || got[1].Seq != 2 {
			t.Errorf("after the restart a node got %+v, want \"after\" with seq 2", got[1])
		}
	}
}

func waitCounters(t *testing.T, nd *node, what string, ok func(broker.Counters) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok(nd.Counters()) {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within 15s: %+v", what, nd.Counters())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
