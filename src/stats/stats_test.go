package stats

import (
	"testing"

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
