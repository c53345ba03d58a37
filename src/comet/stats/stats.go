// Package stats is the counters page workers share with their master: a memfd mapped by both, one fixed slot of
// atomic uint64 counters per worker. Workers count with plain atomic adds (no messages, no locks), and the master
// reads whenever /stats is asked, so the admin port never slows the event loops.
package stats

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Counter indexes a slot.
type Counter int

// Counters of a worker. Append only: the master and workers of one binary share this layout.
const (
	PID Counter = iota
	Conns
	Held
	Accepted
	Responses
	BytesIn
	BytesOut
	Err400
	Err405
	Err408
	Err413
	Err431
	Err503
	IdleTimeouts
	EmfilePauses
	Resets
	SlowCloses
	PipelineCloses
	PushDelivered
	HeartbeatUnix
	StartedUnix
	Heads
	Goroutines // runtime.NumGoroutine(), stamped with the heartbeat
	PushGaps   // answers telling a subscriber that messages after its since were dropped (X-Oldest-Seq)
	PushMissed // seqs those answers skipped: what the store dropped before its subscribers saw it
	Err414
	Err417
	Err501
	Err505
	Err421
	numCounters
)

// SlotWords is the number of uint64 words per worker slot (room to grow without changing the page layout).
const SlotWords = 64

// Names are the JSON/Prometheus names of the counters, by index.
var Names = [...]string{
	PID: "pid", Conns: "conns", Held: "held", Accepted: "accepted", Responses: "responses",
	BytesIn: "bytes_in", BytesOut: "bytes_out", Err400: "err_400", Err405: "err_405", Err408: "err_408",
	Err413: "err_413", Err431: "err_431", Err503: "err_503", IdleTimeouts: "idle_timeouts",
	EmfilePauses: "emfile_pauses", Resets: "resets", SlowCloses: "slow_closes", PipelineCloses: "pipeline_closes",
	PushDelivered: "push_delivered", HeartbeatUnix: "heartbeat_unix", StartedUnix: "started_unix", Heads: "heads",
	Goroutines: "goroutines", PushGaps: "push_gaps", PushMissed: "push_missed",
	Err414: "err_414", Err417: "err_417", Err501: "err_501", Err505: "err_505",
	Err421: "err_421",
}

// ErrorCounters are the counters reported under "errors" in /stats, with their kind names.
var ErrorCounters = []Counter{Err400, Err405, Err408, Err413, Err414, Err417, Err421, Err431, Err501, Err503, Err505,
	Resets, SlowCloses, PipelineCloses}

// statusCounters pairs each error status comet answers with its counter.
var statusCounters = [...]struct {
	status int
	c      Counter
}{{400, Err400}, {405, Err405}, {408, Err408}, {413, Err413}, {414, Err414}, {417, Err417}, {421, Err421}, {431, Err431},
	{501, Err501}, {503, Err503}, {505, Err505}}

// StatusCounter is the counter an error response with this status counts in. A status without one (ok false) is
// answered, and counted, as 400.
func StatusCounter(status int) (c Counter, ok bool) {
	for _, sc := range statusCounters {
		if sc.status == status {
			return sc.c, true
		}
	}
	return Err400, false
}

// ErrorKind names an error counter in /stats ("400", "reset", ...).
func ErrorKind(c Counter) string {
	for _, sc := range statusCounters {
		if sc.c == c {
			return strconv.Itoa(sc.status)
		}
	}
	switch c {
	case Resets:
		return "reset"
	case SlowCloses:
		return "slow_reader"
	case PipelineCloses:
		return "pipeline_cap"
	}
	return Names[c]
}

// Slot is one worker's counters.
type Slot struct{ words *[SlotWords]uint64 }

// Add increments counter c by d.
func (s Slot) Add(c Counter, d int64) { atomic.AddUint64(&s.words[c], uint64(d)) }

// Set stores v in counter c.
func (s Slot) Set(c Counter, v uint64) { atomic.StoreUint64(&s.words[c], v) }

// Get loads counter c.
func (s Slot) Get(c Counter) uint64 { return atomic.LoadUint64(&s.words[c]) }

// Reset zeroes every counter (the master does this before restarting a worker in the slot).
func (s Slot) Reset() {
	for i := range s.words {
		atomic.StoreUint64(&s.words[i], 0)
	}
}

// Table is the mapped page of all slots.
type Table struct {
	FD    int
	mem   []byte
	slots int
}

// Create makes a new shared table for n workers (memfd, close-on-exec; pass FD to children explicitly).
func Create(n int) (*Table, error) {
	if n <= 0 {
		return nil, fmt.Errorf("stats: need at least one slot, got %d", n)
	}
	fd, err := unix.MemfdCreate("comet-stats", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("stats: memfd_create: %w", err)
	}
	size := n * SlotWords * 8
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("stats: ftruncate: %w", err)
	}
	t, err := mapTable(fd, n)
	if err != nil {
		unix.Close(fd)
	}
	return t, err
}

// Open maps a table passed down by the master; its size tells the slot count.
func Open(fd int) (*Table, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("stats: fd %d: %w", fd, err)
	}
	n := int(st.Size) / (SlotWords * 8)
	if n == 0 {
		return nil, fmt.Errorf("stats: fd %d is not a stats table (size %d)", fd, st.Size)
	}
	return mapTable(fd, n)
}

func mapTable(fd, n int) (*Table, error) {
	mem, err := unix.Mmap(fd, 0, n*SlotWords*8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("stats: mmap: %w", err)
	}
	return &Table{FD: fd, mem: mem, slots: n}, nil
}

// Slots is the number of worker slots.
func (t *Table) Slots() int { return t.slots }

// Slot returns slot i; it panics on an index outside the table (a programming error).
func (t *Table) Slot(i int) Slot {
	if i < 0 || i >= t.slots {
		panic(fmt.Sprintf("stats: slot %d outside table of %d", i, t.slots))
	}
	return Slot{words: (*[SlotWords]uint64)(unsafe.Pointer(&t.mem[i*SlotWords*8]))}
}

// Close unmaps the table and closes its fd.
func (t *Table) Close() error {
	err := unix.Munmap(t.mem)
	unix.Close(t.FD)
	return err
}

// Started stamps a worker's pid, start time and first heartbeat into its slot.
func (s Slot) Started(now time.Time) {
	s.Set(PID, uint64(os.Getpid()))
	s.Set(StartedUnix, uint64(now.Unix()))
	s.Beat(now)
}

// Beat stamps the heartbeat (the master tells a live worker from a stuck one by its age) and the goroutine count.
func (s Slot) Beat(now time.Time) {
	s.Set(HeartbeatUnix, uint64(now.Unix()))
	s.Set(Goroutines, uint64(runtime.NumGoroutine()))
}

// Local returns a slot backed by ordinary memory, for code that runs without a master (tests, the goroutine engine).
func Local() Slot { return Slot{words: new([SlotWords]uint64)} }

func init() {
	if numCounters > SlotWords {
		panic("stats: more counters than slot words")
	}
}
