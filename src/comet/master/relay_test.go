package master

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/broker"
	"github.com/comet-lab/comet-lab/src/comet/control"
)

// scriptedBroker is a broker whose stream is a slice: Publish appends and hands the message to the relay as the
// stream reader would; down makes Publish fail, storeAnyway stores the message although Publish fails (a lost
// acknowledgement), to be read later with readLate.
type scriptedBroker struct {
	mu          sync.Mutex
	r           *relay
	stream      []broker.Message
	down        bool
	storeAnyway bool
	late        []broker.Message
}

func (b *scriptedBroker) Publish(_ context.Context, m broker.Message) (uint64, error) {
	b.mu.Lock()
	if b.down && !b.storeAnyway {
		b.mu.Unlock()
		return 0, broker.ErrUnavailable
	}
	m.Seq = uint64(len(b.stream) + 1)
	b.stream = append(b.stream, m)
	if b.down {
		b.late = append(b.late, m)
		b.mu.Unlock()
		return 0, errors.New("publish acknowledgement timed out")
	}
	b.mu.Unlock()
	go b.r.deliver(m) // the reader runs on its own goroutine
	return m.Seq, nil
}

// fromOtherNode is a message another node published, as the stream brings it.
func (b *scriptedBroker) fromOtherNode(body string) {
	b.mu.Lock()
	m := broker.Message{Seq: uint64(len(b.stream) + 1), Broadcast: true, Body: []byte(body), MsgID: "other-" + body}
	b.stream = append(b.stream, m)
	b.mu.Unlock()
	b.r.deliver(m)
}

func (b *scriptedBroker) readLate() {
	b.mu.Lock()
	late := b.late
	b.late = nil
	b.mu.Unlock()
	for _, m := range late {
		b.r.deliver(m)
	}
}

func (b *scriptedBroker) set(down, storeAnyway bool) {
	b.mu.Lock()
	b.down, b.storeAnyway = down, storeAnyway
	b.mu.Unlock()
}

func (b *scriptedBroker) Counters() broker.Counters { return broker.Counters{} }
func (b *scriptedBroker) Close()                    {}

func TestRelaySeqsAndScopes(t *testing.T) {
	hub := newHub(8, time.Second, quietLog())
	w := newFakeWorker(t, 0, 2, true)
	hub.Attach(w.conn)
	r := newRelay(hub, quietLog())
	b := &scriptedBroker{r: r}
	r.b = b
	next := func(what string) control.Message {
		t.Helper()
		select {
		case m := <-w.packets:
			return m
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: the worker got nothing", what)
			return control.Message{}
		}
	}
	publish := func(body string) (uint64, string) {
		t.Helper()
		res, err := r.Publish(context.Background(), "", true, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if res.Answered != 2 || res.Partial {
			t.Errorf("publish %q: %+v, want answered 2 (the worker's ack)", body, res)
		}
		return res.Seq, res.Scope
	}
	steps := []struct {
		name      string
		do        func() (uint64, string) // returns the answer's seq and scope ("" for a message from another node)
		wantSeq   uint64
		wantScope string
	}{
		{"through the broker", func() (uint64, string) { return publish("one") }, 1 * SeqStride, ScopeCluster},
		{"from another node", func() (uint64, string) { b.fromOtherNode("two"); return 0, "" }, 2 * SeqStride, ""},
		{"broker down", func() (uint64, string) { b.set(true, false); return publish("three") }, 2*SeqStride + 1, ScopeLocal},
		{"down again", func() (uint64, string) { return publish("four") }, 2*SeqStride + 2, ScopeLocal},
		{"ack lost, stored", func() (uint64, string) { b.set(true, true); return publish("five") }, 2*SeqStride + 3, ScopeLocal},
		{"back", func() (uint64, string) {
			b.set(false, false)
			b.readLate() // "five" comes back from the stream (seq 3): already delivered here, not again
			return publish("six")
		}, 4 * SeqStride, ScopeCluster},
	}
	for _, st := range steps {
		seq, scope := st.do()
		m := next(st.name)
		if m.Seq != st.wantSeq || (st.wantScope != "" && (seq != st.wantSeq || scope != st.wantScope)) {
			t.Fatalf("%s: worker got seq %d (%q), answer seq %d scope %q; want seq %d scope %q",
				st.name, m.Seq, m.Body, seq, scope, st.wantSeq, st.wantScope)
		}
	}
	select {
	case m := <-w.packets:
		t.Errorf("the worker got a message twice: seq %d %q", m.Seq, m.Body)
	case <-time.After(100 * time.Millisecond):
	}
	if got := r.localOnly.Load(); got != 3 {
		t.Errorf("local_only = %d, want 3", got)
	}
	// A stream that starts again below the last seq (lost and made again) never makes seqs go backwards.
	b.mu.Lock()
	b.stream = nil
	b.mu.Unlock()
	b.fromOtherNode("new stream")
	if m := next("new stream"); m.Seq != 4*SeqStride+1 {
		t.Errorf("first message of a new stream got seq %d, want %d (last + 1)", m.Seq, 4*SeqStride+1)
	}
}
