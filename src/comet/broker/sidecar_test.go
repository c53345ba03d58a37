package broker

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// The test binary doubles as comet-broker: with sidecarEnv set it runs Serve over a loopBroker.
const sidecarEnv = "BROKER_TEST_SIDECAR"

func TestMain(m *testing.M) {
	if os.Getenv(sidecarEnv) == "1" {
		log := logrus.New()
		log.SetOutput(io.Discard)
		after, _ := strconv.ParseUint(os.Getenv(EnvAfter), 10, 64)
		err := Serve(os.NewFile(LinkFD, "link"), func(d Deliver) (Broker, error) { return &loopBroker{deliver: d, seq: after}, nil }, log)
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// loopBroker is a stream in memory: each publish gets the next seq and is handed back at once.
type loopBroker struct {
	mu      sync.Mutex
	deliver Deliver
	seq     uint64
	out     uint64
}

func (b *loopBroker) Publish(_ context.Context, m Message) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	b.out++
	m.Seq = b.seq
	b.deliver(m)
	return m.Seq, nil
}

func (b *loopBroker) Counters() Counters {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Counters{Connected: true, Out: b.out}
}

func (b *loopBroker) Close() {}

func TestSidecar(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	got := make(chan Message, 16)
	s, err := Spawn(SidecarConfig{Path: os.Args[0], Env: []string{sidecarEnv + "=1"}, Log: log},
		func(m Message) { m.Body = append([]byte(nil), m.Body...); got <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	publish := func(body string, wantSeq uint64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			seq, err := s.Publish(context.Background(), Message{Broadcast: true, Body: []byte(body), MsgID: body})
			if err == nil {
				if seq != wantSeq {
					t.Fatalf("publish %q: seq %d, want %d", body, seq, wantSeq)
				}
				break
			}
			if !errors.Is(err, ErrUnavailable) || time.Now().After(deadline) {
				t.Fatalf("publish %q: %v", body, err)
			}
			time.Sleep(20 * time.Millisecond) // comet-broker is being restarted
		}
		select {
		case m := <-got:
			if m.Seq != wantSeq || string(m.Body) != body || m.MsgID != body || !m.Broadcast {
				t.Fatalf("delivered %+v, want %q with seq %d", m, body, wantSeq)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q not delivered", body)
		}
	}
	publish("one", 1)
	publish("two", 2)
	waitFor(t, "status with out 2", func() bool { c := s.Counters(); return c.Connected && c.Out == 2 && c.PID > 0 })
	first := s.Counters().PID

	// Killed: the master starts another, which carries on after seq 2; the counters keep the first one's.
	syscall.Kill(first, syscall.SIGKILL)
	waitFor(t, "a new comet-broker", func() bool { c := s.Counters(); return c.PID != 0 && c.PID != first })
	publish("three", 3)
	waitFor(t, "out summed over both processes", func() bool { return s.Counters().Out == 3 })
	select {
	case m := <-got:
		t.Errorf("delivered again: %+v", m)
	default:
	}

	last := s.Counters().PID
	s.Close()
	if err := syscall.Kill(last, 0); err == nil {
		t.Errorf("comet-broker %d still runs after Close", last)
	}
	if _, err := s.Publish(context.Background(), Message{MsgID: "late"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("publish after Close: %v, want ErrUnavailable", err)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
