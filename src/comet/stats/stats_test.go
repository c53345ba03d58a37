package stats

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSharedTableSeenThroughSecondMapping(t *testing.T) {
	tab, err := Create(3)
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	dup, err := unix.Dup(tab.FD)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(dup)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.Slots() != 3 {
		t.Fatalf("slots = %d, want 3", other.Slots())
	}
	tests := []struct {
		slot  int
		c     Counter
		delta int64
		want  uint64
	}{
		{0, Conns, 5, 5},
		{0, Conns, -2, 3},
		{2, Held, 7, 7},
		{1, Err431, 1, 1},
	}
	for _, tc := range tests {
		tab.Slot(tc.slot).Add(tc.c, tc.delta)
		if got := other.Slot(tc.slot).Get(tc.c); got != tc.want {
			t.Errorf("slot %d %s = %d, want %d", tc.slot, Names[tc.c], got, tc.want)
		}
	}
	other.Slot(0).Reset()
	if got := tab.Slot(0).Get(Conns); got != 0 {
		t.Errorf("after reset conns = %d", got)
	}
	if got := tab.Slot(2).Get(Held); got != 7 {
		t.Errorf("reset touched another slot: held = %d", got)
	}
}

func TestOpenRejectsNonTable(t *testing.T) {
	fd, err := unix.MemfdCreate("empty", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := Open(fd); err == nil {
		t.Fatal("Open of an empty memfd succeeded")
	}
	if _, err := Create(0); err == nil {
		t.Fatal("Create(0) succeeded")
	}
}

func TestEveryCounterNamed(t *testing.T) {
	for c := Counter(0); c < numCounters; c++ {
		if Names[c] == "" {
			t.Errorf("counter %d has no name", c)
		}
	}
}

func TestStartedAndBeatStampLiveness(t *testing.T) {
	s := Local()
	start := time.Unix(1_800_000_000, 0)
	s.Started(start)
	if s.Get(PID) != uint64(os.Getpid()) || s.Get(StartedUnix) != uint64(start.Unix()) ||
		s.Get(HeartbeatUnix) != uint64(start.Unix()) || s.Get(Goroutines) == 0 {
		t.Fatalf("after Started: pid %d started %d heartbeat %d goroutines %d",
			s.Get(PID), s.Get(StartedUnix), s.Get(HeartbeatUnix), s.Get(Goroutines))
	}
	later := start.Add(5 * time.Second)
	s.Beat(later)
	if s.Get(HeartbeatUnix) != uint64(later.Unix()) || s.Get(StartedUnix) != uint64(start.Unix()) {
		t.Errorf("after Beat: heartbeat %d started %d", s.Get(HeartbeatUnix), s.Get(StartedUnix))
	}
}

func TestStatusCounter(t *testing.T) {
	tests := []struct {
		status int
		want   Counter
		ok     bool
	}{
		{400, Err400, true}, {405, Err405, true}, {408, Err408, true}, {413, Err413, true}, {431, Err431, true},
		{503, Err503, true}, {414, Err414, true}, {417, Err417, true}, {501, Err501, true}, {505, Err505, true}, {421, Err421, true},
		{404, Err400, false}, {500, Err400, false}, {0, Err400, false},
	}
	for _, tc := range tests {
		if c, ok := StatusCounter(tc.status); c != tc.want || ok != tc.ok {
			t.Errorf("StatusCounter(%d) = %v, %v; want %v, %v", tc.status, ErrorKind(c), ok, ErrorKind(tc.want), tc.ok)
		}
	}
}
