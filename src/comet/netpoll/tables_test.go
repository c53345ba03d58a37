package netpoll

import (
	"runtime"
	"testing"

	"github.com/comet-lab/comet-lab/src/lib/netloop"
	"github.com/mailru/easygo/netpoll"
)

func TestTableSizeCappedAtFDLimit(t *testing.T) {
	tests := []struct {
		name             string
		cur, fd, fdLimit int
		want             int
	}{
		{"first growth", 0, 5, 20000, 1024},
		{"doubles", 1024, 1024, 20000, 2048},
		{"doubles past a far fd", 1024, 5000, 20000, 8192},
		{"capped at the fd limit", 16384, 16384, 20000, 20000},
		{"no limit known", 16384, 16384, 0, 32768},
		{"fd at or above the limit still fits", 16384, 20000, 20000, 32768},
		{"small limit", 0, 10, 64, 64},
	}
	for _, tc := range tests {
		got := tableSize(tc.cur, tc.fd, tc.fdLimit)
		if got != tc.want {
			t.Errorf("%s: tableSize(%d, %d, %d) = %d, want %d", tc.name, tc.cur, tc.fd, tc.fdLimit, got, tc.want)
		}
		if got <= tc.fd {
			t.Errorf("%s: size %d does not cover fd %d", tc.name, got, tc.fd)
		}
	}
}

func TestConnKeyRoundTrip(t *testing.T) {
	tests := []struct{ reg, fd int }{{0, 0}, {0, 19999}, {1, 7}, {MaxWorkersPerProcess - 1, 1<<31 - 1}}
	for _, tc := range tests {
		key := connKey(tc.reg, tc.fd)
		if reg, fd := int(key>>32), int(uint32(key)); reg != tc.reg || fd != tc.fd {
			t.Errorf("connKey(%d, %d) unpacks to (%d, %d)", tc.reg, tc.fd, reg, fd)
		}
	}
}

// The per-conn callback is the one heap object a held conn owns: it must stay in the 16-byte size class.
func TestConnCallbackIs16Bytes(t *testing.T) {
	const n = 10000
	keep := make([]func(netpoll.EpollEvent), n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range keep {
		keep[i] = connCallback(3, i)
	}
	runtime.ReadMemStats(&after)
	if per := float64(after.TotalAlloc-before.TotalAlloc) / n; per > 16.5 {
		t.Errorf("a conn callback costs %.1f bytes, want 16", per)
	}
	runtime.KeepAlive(keep)
}

// Workers running at once hold distinct slots; a released slot is empty and a late callback for it is ignored.
func TestRegistrySlots(t *testing.T) {
	// a's fd 5 looks live but a has no wheel or loop: an event reaching it would panic.
	a, b := &worker{conns: make([]conn, 8)}, &worker{}
	a.conns[5].state = stIdle
	if err := a.register(); err != nil {
		t.Fatal(err)
	}
	if err := b.register(); err != nil {
		t.Fatal(err)
	}
	defer b.unregister()
	if a.reg == b.reg {
		t.Fatalf("two live workers share slot %d", a.reg)
	}
	if registry.workers[a.reg].Load() != a || registry.workers[b.reg].Load() != b {
		t.Fatal("registry does not hold the registered workers")
	}
	late := connCallback(a.reg, 5)
	a.unregister()
	if registry.workers[a.reg].Load() != nil {
		t.Fatalf("slot %d still taken after unregister", a.reg)
	}
	late(netloop.In)
}
