// Package wheel is a hashed timing wheel keyed by small non-negative ints
// (file descriptors). It holds millions of deadlines in 12 bytes each: links
// and due ticks live in index-addressed slices, so there are no per-entry
// pointers for the GC to scan and Schedule does not allocate once the slices
// cover the ids in use.
//
// A Wheel is not safe for concurrent use; the server drives it from its event
// loop.
package wheel

import (
	"fmt"
	"time"
)

// MaxID is the largest id a Wheel accepts (links are int32 index+1).
const MaxID = 1<<31 - 2

// maxDelayTicks keeps due-tick comparisons correct under uint32 wrap-around.
const maxDelayTicks = 1<<31 - 1

// entry is one id's state. Links hold index+1 so the zero value means "none".
// prev < 0 marks the first entry of a slot list and stores -(slot+1), which
// lets Cancel unlink in O(1) without a per-entry slot field; prev == 0 means
// not scheduled.
type entry struct {
	next int32
	prev int32
	due  uint32 // absolute tick (wrapping) at or after which the entry fires
}

// Wheel is a hashed timing wheel. Deadlines are rounded up to the next tick:
// an entry never fires before its deadline and fires on the first Advance at
// or after the tick boundary following it.
type Wheel struct {
	tick    time.Duration
	origin  time.Time // time of tick 0
	now     time.Time // latest time passed to Start or Advance
	cur     uint32    // last processed tick
	heads   []int32   // slot list heads (index+1); the extra last one is the list being fired
	entries []entry
	n       int
}

// New returns a wheel with the given tick and number of slots, with its time
// origin at time.Now(). Delays longer than tick*slots are fine: entries stay
// in their slot for extra rounds. slots below 1 become 1.
func New(tick time.Duration, slots int) *Wheel {
	if tick <= 0 {
		tick = time.Millisecond
	}
	if slots < 1 {
		slots = 1
	}
	w := &Wheel{tick: tick, heads: make([]int32, slots+1)}
	w.Start(time.Now())
	return w
}

// Start sets the time origin and current time to now. Call it before
// scheduling anything (e.g. with a fake clock in tests); already scheduled
// entries keep their tick numbers.
func (w *Wheel) Start(now time.Time) {
	w.origin = now
	w.now = now
	w.cur = 0
}

func (w *Wheel) slots() int { return len(w.heads) - 1 }

// Len returns the number of scheduled entries.
func (w *Wheel) Len() int { return w.n }

// Scheduled reports whether id has a pending deadline.
func (w *Wheel) Scheduled(id int) bool {
	return id >= 0 && id < len(w.entries) && w.entries[id].prev != 0
}

// Schedule sets id to fire after the given delay, measured from the time last
// passed to Start or Advance (callers advance every tick, so this is at most
// one tick stale; use ScheduleAt for an exact deadline). Scheduling an id that
// is already scheduled moves it. Ids outside [0, MaxID] panic: they are a
// programming error, never input.
func (w *Wheel) Schedule(id int, after time.Duration) {
	w.ScheduleAt(id, w.now.Add(after))
}

// ScheduleAt sets id to fire at deadline (rounded up to the next tick).
func (w *Wheel) ScheduleAt(id int, deadline time.Time) {
	if id < 0 || id > MaxID {
		panic(fmt.Sprintf("wheel: id %d out of range [0, %d]", id, MaxID))
	}
	w.grow(id)
	if w.entries[id].prev != 0 {
		w.unlink(id)
	} else {
		w.n++
	}
	w.insert(id, w.dueTick(deadline))
}

// dueTick rounds deadline up to a tick boundary, and to no earlier than the
// tick after the current time so nothing fires within the pass scheduling it.
func (w *Wheel) dueTick(deadline time.Time) uint32 {
	d := deadline.Sub(w.origin)
	var t int64
	if d > 0 {
		t = int64((d + w.tick - 1) / w.tick)
	}
	now := w.absTick(w.now)
	if t <= now {
		t = now + 1
	}
	if t-now > maxDelayTicks {
		t = now + maxDelayTicks
	}
	return uint32(t) // wraps; compared only by difference
}

// Cancel removes id's deadline, if any.
func (w *Wheel) Cancel(id int) {
	if !w.Scheduled(id) {
		return
	}
	w.unlink(id)
	w.entries[id].prev = 0
	w.n--
}

// Advance moves the wheel to now and calls fire for every entry whose due
// tick has been reached, after unscheduling it. fire may Schedule or Cancel
// any id, including the one firing; entries it schedules fire on a later
// Advance at the earliest. Time going backwards is ignored.
func (w *Wheel) Advance(now time.Time, fire func(id int)) {
	if now.Before(w.now) {
		return
	}
	target := uint32(w.absTick(now))
	w.now = now
	slots := uint32(w.slots())
	if target-w.cur >= slots {
		// A full revolution or more passed: visit every slot once, firing all
		// entries due up to target.
		w.cur = target
		for s := uint32(0); s < slots; s++ {
			w.fireSlot(int(s), target, fire)
		}
		return
	}
	for w.cur != target {
		w.cur++
		w.fireSlot(int(w.cur%slots), w.cur, fire)
	}
}

func (w *Wheel) absTick(t time.Time) int64 { return int64(t.Sub(w.origin) / w.tick) }

// fireSlot moves slot s's list to the firing list, then pops entries one by
// one: due ones fire, others go back to s. Keeping the rest in a real list
// lets fire Cancel or Schedule any of them safely.
func (w *Wheel) fireSlot(s int, upTo uint32, fire func(id int)) {
	firing := w.slots()
	if w.heads[s] == 0 {
		return
	}
	w.heads[firing] = w.heads[s]
	w.entries[w.heads[s]-1].prev = -int32(firing + 1)
	w.heads[s] = 0
	for w.heads[firing] != 0 {
		id := int(w.heads[firing] - 1)
		w.unlink(id)
		if int32(upTo-w.entries[id].due) >= 0 {
			w.entries[id].prev = 0
			w.n--
			fire(id)
		} else {
			w.link(id, s)
		}
	}
}

func (w *Wheel) insert(id int, due uint32) {
	w.entries[id].due = due
	w.link(id, int(due%uint32(w.slots())))
}

// link pushes id at the front of slot s.
func (w *Wheel) link(id, s int) {
	e := &w.entries[id]
	e.next = w.heads[s]
	e.prev = -int32(s + 1)
	if e.next != 0 {
		w.entries[e.next-1].prev = int32(id + 1)
	}
	w.heads[s] = int32(id + 1)
}

// unlink removes id from its list; its prev is left stale for the caller.
func (w *Wheel) unlink(id int) {
	e := &w.entries[id]
	if e.prev < 0 {
		w.heads[-e.prev-1] = e.next
	} else {
		w.entries[e.prev-1].next = e.next
	}
	if e.next != 0 {
		w.entries[e.next-1].prev = e.prev
	}
	e.next = 0
}

// grow makes entries cover id, doubling so that amortised growth is O(1).
func (w *Wheel) grow(id int) {
	if id < len(w.entries) {
		return
	}
	n := 2 * len(w.entries)
	if n < 64 {
		n = 64
	}
	for n <= id {
		n *= 2
	}
	if n > MaxID+1 {
		n = MaxID + 1
	}
	grown := make([]entry, n)
	copy(grown, w.entries)
	w.entries = grown
}
