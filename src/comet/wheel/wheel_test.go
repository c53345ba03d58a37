package wheel

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

var epoch = time.Unix(1_700_000_000, 0)

// fakeWheel returns a wheel started at epoch.
func fakeWheel(tick time.Duration, slots int) *Wheel {
	w := New(tick, slots)
	w.Start(epoch)
	return w
}

func TestFireTimes(t *testing.T) {
	const tick = 100 * time.Millisecond
	const slots = 8
	tests := []struct {
		name  string
		start time.Duration // clock offset when scheduling (after advancing to it)
		after time.Duration
	}{
		{"zero delay", 0, 0},
		{"negative delay", 0, -time.Second},
		{"one nanosecond", 0, 1},
		{"just under a tick", 0, tick - 1},
		{"exactly one tick", 0, tick},
		{"just over a tick", 0, tick + 1},
		{"mid tick start", 30 * time.Millisecond, 250 * time.Millisecond},
		{"mid tick start, one tick", 30 * time.Millisecond, tick},
		{"one revolution", 0, slots * tick},
		{"just over one revolution", 10 * time.Millisecond, slots*tick + 1},
		{"many revolutions", 70 * time.Millisecond, 13*slots*tick + 3*tick + 5},
		{"late start", 37 * tick, 3*tick + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := fakeWheel(tick, slots)
			step := tick / 4
			now := epoch
			for now.Sub(epoch) < tc.start {
				now = now.Add(10 * time.Millisecond)
				w.Advance(now, func(int) { t.Fatal("nothing scheduled yet") })
			}
			w.Schedule(7, tc.after)
			deadline := now.Add(max(tc.after, 0)) // a past deadline means "now"
			var fired []time.Time
			limit := deadline.Add(3 * tick)
			for now.Before(limit) {
				now = now.Add(step)
				w.Advance(now, func(id int) {
					if id != 7 {
						t.Fatalf("fired unknown id %d", id)
					}
					fired = append(fired, now)
				})
			}
			if len(fired) != 1 {
				t.Fatalf("fired %d times, want 1", len(fired))
			}
			if fired[0].Before(deadline) {
				t.Errorf("fired %v before deadline", deadline.Sub(fired[0]))
			}
			if late := fired[0].Sub(deadline); late > tick {
				t.Errorf("fired %v after deadline, more than one tick", late)
			}
			if w.Len() != 0 || w.Scheduled(7) {
				t.Errorf("after firing Len=%d Scheduled=%v", w.Len(), w.Scheduled(7))
			}
		})
	}
}

func TestScheduleUsesLatestAdvanceTime(t *testing.T) {
	w := fakeWheel(time.Second, 4)
	w.Advance(epoch.Add(10*time.Second+500*time.Millisecond), func(int) {})
	w.Schedule(1, 2*time.Second) // deadline 12.5 s => due at tick 13
	var got []int
	record := func(id int) { got = append(got, id) }
	w.Advance(epoch.Add(12*time.Second), record)
	if len(got) != 0 {
		t.Fatalf("fired early at 12 s: %v", got)
	}
	w.Advance(epoch.Add(13*time.Second), record)
	if len(got) != 1 || got[0] != 1 {
		t.Fatalf("at 13 s fired %v, want [1]", got)
	}
}

func TestScheduleAt(t *testing.T) {
	w := fakeWheel(time.Second, 4)
	w.ScheduleAt(3, epoch.Add(2500*time.Millisecond))
	var got []int
	w.Advance(epoch.Add(2900*time.Millisecond), func(id int) { got = append(got, id) })
	if len(got) != 0 {
		t.Fatalf("fired before the deadline's tick: %v", got)
	}
	w.Advance(epoch.Add(3*time.Second), func(id int) { got = append(got, id) })
	if len(got) != 1 {
		t.Fatalf("not fired at the tick after the deadline: %v", got)
	}
}

func TestCancel(t *testing.T) {
	w := fakeWheel(time.Second, 4)
	for id := range 10 {
		w.Schedule(id, time.Duration(id)*time.Second)
	}
	if w.Len() != 10 {
		t.Fatalf("Len=%d, want 10", w.Len())
	}
	for _, id := range []int{0, 3, 4, 9, 9, 1000, -1} { // repeats and unknown ids are no-ops
		w.Cancel(id)
	}
	if w.Len() != 6 {
		t.Fatalf("Len after cancel=%d, want 6", w.Len())
	}
	fired := map[int]bool{}
	w.Advance(epoch.Add(time.Minute), func(id int) {
		if fired[id] {
			t.Errorf("id %d fired twice", id)
		}
		fired[id] = true
	})
	for id := range 10 {
		cancelled := id == 0 || id == 3 || id == 4 || id == 9
		if fired[id] == cancelled {
			t.Errorf("id %d fired=%v, cancelled=%v", id, fired[id], cancelled)
		}
	}
	if w.Len() != 0 {
		t.Errorf("Len=%d after all fired", w.Len())
	}
}

func TestRescheduleMoves(t *testing.T) {
	w := fakeWheel(time.Second, 4)
	w.Schedule(5, 10*time.Second)
	w.Schedule(5, 2*time.Second) // earlier
	w.Schedule(6, 2*time.Second)
	w.Schedule(6, 9*time.Second) // later, in another round
	if w.Len() != 2 {
		t.Fatalf("Len=%d, want 2", w.Len())
	}
	firedAt := map[int][]int{}
	for s := 1; s <= 12; s++ {
		w.Advance(epoch.Add(time.Duration(s)*time.Second), func(id int) { firedAt[id] = append(firedAt[id], s) })
	}
	if got := firedAt[5]; len(got) != 1 || got[0] != 2 {
		t.Errorf("id 5 fired at %v, want [2]", got)
	}
	if got := firedAt[6]; len(got) != 1 || got[0] != 9 {
		t.Errorf("id 6 fired at %v, want [9]", got)
	}
}

func TestMutationsInsideFire(t *testing.T) {
	w := fakeWheel(time.Second, 4)
	// ids 1..4 share slot and tick; 1 re-schedules itself, cancels 2 and 3
	// (whichever has not fired yet) and schedules 10.
	for id := 1; id <= 4; id++ {
		w.Schedule(id, time.Second)
	}
	fires := map[int][]int{}
	sec := 0
	fire := func(id int) {
		fires[id] = append(fires[id], sec)
		switch id {
		case 1:
			if len(fires[1]) < 3 {
				w.Schedule(1, 0) // next tick
			}
			w.Cancel(2)
			w.Cancel(3)
			w.Schedule(10, 2*time.Second)
		case 4:
			w.Schedule(4, 0)
			w.Cancel(4) // schedule then cancel the firing id
		}
	}
	for sec = 1; sec <= 8; sec++ {
		w.Advance(epoch.Add(time.Duration(sec)*time.Second), fire)
	}
	if got := fires[1]; len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Errorf("self re-scheduling id 1 fired at %v, want [1 2 3]", got)
	}
	if len(fires[4]) != 1 {
		t.Errorf("id 4 fired %d times, want 1", len(fires[4]))
	}
	// 2 and 3 sit in the firing list next to 1: each may fire only if it was
	// popped before 1, and never after being cancelled.
	for _, id := range []int{2, 3} {
		if len(fires[id]) > 1 {
			t.Errorf("id %d fired %d times", id, len(fires[id]))
		}
	}
	// 10 was last scheduled by the third firing of 1 at 3 s: due at 5 s.
	if got := fires[10]; len(got) != 1 || got[0] != 5 {
		t.Errorf("id 10 fired at %v, want [5]", got)
	}
	if w.Len() != 0 {
		t.Errorf("Len=%d, want 0", w.Len())
	}
}

func TestBigJumpFiresEverythingDue(t *testing.T) {
	w := fakeWheel(time.Second, 8)
	for id := range 100 {
		w.Schedule(id, time.Duration(id)*time.Second)
	}
	n := 0
	w.Advance(epoch.Add(49*time.Second), func(id int) {
		if id > 49 {
			t.Errorf("id %d fired at 49 s", id)
		}
		n++
	})
	if n != 50 || w.Len() != 50 {
		t.Fatalf("fired %d, Len %d; want 50, 50", n, w.Len())
	}
	w.Advance(epoch.Add(time.Hour), func(int) { n++ })
	if n != 100 || w.Len() != 0 {
		t.Fatalf("fired %d, Len %d; want 100, 0", n, w.Len())
	}
}

func TestBackwardsTimeIgnored(t *testing.T) {
	w := fakeWheel(time.Second, 8)
	w.Advance(epoch.Add(10*time.Second), func(int) {})
	w.Schedule(1, time.Second)
	w.Advance(epoch.Add(5*time.Second), func(int) { t.Fatal("fired while time went backwards") })
	fired := false
	w.Advance(epoch.Add(11*time.Second), func(int) { fired = true })
	if !fired {
		t.Fatal("did not fire at 11 s")
	}
}

func TestOneMillionEntries(t *testing.T) {
	const n = 1_000_000
	const tick = time.Second
	w := fakeWheel(tick, 64)
	rng := rand.New(rand.NewPCG(1, 2))
	deadline := make([]time.Duration, n)
	for id := range n {
		deadline[id] = time.Duration(rng.Int64N(int64(200 * tick)))
		w.Schedule(id, deadline[id])
	}
	if w.Len() != n {
		t.Fatalf("Len=%d, want %d", w.Len(), n)
	}
	fired := make([]bool, n)
	count := 0
	for s := 1; s <= 201; s++ {
		now := time.Duration(s) * tick
		w.Advance(epoch.Add(now), func(id int) {
			if fired[id] {
				t.Fatalf("id %d fired twice", id)
			}
			if now < deadline[id] || now-deadline[id] > tick {
				t.Fatalf("id %d due %v fired at %v", id, deadline[id], now)
			}
			fired[id] = true
			count++
		})
	}
	if count != n || w.Len() != 0 {
		t.Fatalf("fired %d, Len %d; want %d, 0", count, w.Len(), n)
	}
}

func TestNoAllocsOnceGrown(t *testing.T) {
	w := fakeWheel(time.Second, 64)
	const ids = 4096
	w.Schedule(ids-1, time.Second) // grow once
	i := 0
	if a := testing.AllocsPerRun(1000, func() {
		w.Schedule(i%ids, time.Duration(i%300)*time.Second)
		i++
	}); a != 0 {
		t.Errorf("Schedule allocates %.1f per call", a)
	}
	now := epoch
	fire := func(int) {}
	if a := testing.AllocsPerRun(100, func() {
		now = now.Add(time.Second)
		w.Advance(now, fire)
	}); a != 0 {
		t.Errorf("Advance allocates %.1f per call", a)
	}
}

func TestOutOfRangeIDPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("negative id did not panic")
		}
	}()
	fakeWheel(time.Second, 4).Schedule(-1, time.Second)
}

func BenchmarkSchedule(b *testing.B) {
	w := fakeWheel(time.Second, 128)
	w.Schedule(1<<20-1, time.Second)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.Schedule(i&(1<<20-1), time.Duration(30+i%60)*time.Second)
	}
}

func BenchmarkAdvance1M(b *testing.B) {
	const n = 1_000_000
	w := fakeWheel(time.Second, 128)
	now := epoch
	fire := func(id int) { w.Schedule(id, 60*time.Second) } // steady state: every fired entry comes back
	for id := range n {
		w.Schedule(id, time.Duration(1+id%60)*time.Second)
	}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		w.Advance(now, fire)
	}
}

// BenchmarkBytesPerEntry reports the heap held per scheduled entry with 1M
// entries, the number that matters for a server holding 1M requests.
func BenchmarkBytesPerEntry(b *testing.B) {
	const n = 1_000_000
	var perEntry float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w := fakeWheel(time.Second, 1024)
		for id := range n {
			w.Schedule(id, time.Duration(30+id%60)*time.Second)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEntry = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(w)
	}
	b.ReportMetric(perEntry, "B/entry")
}
