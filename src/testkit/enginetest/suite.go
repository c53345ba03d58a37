package enginetest

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/lib/schema"
)

// Hold window of the suite's comet: short enough for a fast suite, long enough to tell a held answer from an
// immediate one.
const (
	holdMin = time.Second
	holdMax = 2 * time.Second
	// heldSlack is how late past holdMax an answer may come (tick granularity and a loaded CI machine).
	heldSlack = time.Second
)

// Run checks the wire contract against comet running the given engine ("netpoll" or "goroutine").
func Run(t *testing.T, engine string) {
	c := StartComet(t, engine, "-hold-min", holdMin.String(), "-hold-max", holdMax.String(), "-keep", strconv.Itoa(suiteKeep))
	// Wire behaviour of independent connections: in parallel, so the suite costs one hold window, not ten.
	t.Run("wire", func(t *testing.T) {
		for _, tc := range wireCases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.check(t, c)
			})
		}
	})
	// These read global counters or count held requests, so they run alone.
	t.Run("stats", func(t *testing.T) { checkStats(t, c) })
	t.Run("flood_cycle", func(t *testing.T) { checkFloodCycle(t, c) })
	t.Run("publish", func(t *testing.T) { checkPublish(t, c) })
	t.Run("broadcast", func(t *testing.T) { checkBroadcast(t, c) })
	t.Run("between_polls", func(t *testing.T) { checkBetweenPolls(t, c) })
	t.Run("backlog", func(t *testing.T) { checkBacklog(t, c) })
	t.Run("sigterm_drain", func(t *testing.T) { checkDrain(t, engine) })
}

var wireCases = []struct {
	name  string
	check func(t *testing.T, c *Comet)
}{
	{"held_then_keepalive", checkHeldKeepAlive},
	{"http10_closes", checkHTTP10},
	{"head_no_body", checkHead},
	{"post_405", func(t *testing.T, c *Comet) {
		checkError(t, c, "POST / HTTP/1.1\r\nHost: comet\r\nContent-Length: 2\r\n\r\nhi", 405)
	}},
	{"head_16k_431", func(t *testing.T, c *Comet) {
		checkError(t, c, "GET / HTTP/1.1\r\nHost: comet\r\nX-Pad: "+strings.Repeat("p", 16<<10)+"\r\n\r\n", 431)
	}},
	{"body_on_get_4xx", func(t *testing.T, c *Comet) {
		checkError(t, c, "GET / HTTP/1.1\r\nHost: comet\r\nContent-Length: 5\r\n\r\nhello", 413, 400)
	}},
}

// inHoldWindow fails unless an answer took about [holdMin, holdMax].
func inHoldWindow(t *testing.T, what string, took time.Duration) {
	t.Helper()
	if took < holdMin-100*time.Millisecond || took > holdMax+heldSlack {
		t.Errorf("%s answered after %v, want within [%v, %v]", what, took, holdMin, holdMax+heldSlack)
	}
}

func checkHeldKeepAlive(t *testing.T, c *Comet) {
	conn := c.Dial(t)
	for i := 1; i <= 2; i++ { // the second poll on the same connection proves keep-alive
		a := conn.RoundTrip(t, get("/poll"), holdMax+5*time.Second)
		if a.StatusCode != 200 || a.Body != "ok\n" || a.ContentLength != 3 || a.Close {
			t.Fatalf("poll %d: status %d body %q content-length %d close %v, want 200 \"ok\\n\" 3 keep-alive",
				i, a.StatusCode, a.Body, a.ContentLength, a.Close)
		}
		inHoldWindow(t, fmt.Sprintf("poll %d", i), a.Took)
	}
}

func checkHTTP10(t *testing.T, c *Comet) {
	conn := c.Dial(t)
	a := conn.RoundTrip(t, "GET / HTTP/1.0\r\n\r\n", holdMax+5*time.Second)
	if a.StatusCode != 200 || a.Body != "ok\n" {
		t.Fatalf("HTTP/1.0: status %d body %q", a.StatusCode, a.Body)
	}
	inHoldWindow(t, "HTTP/1.0 GET", a.Took)
	if !conn.WaitClosed(3 * time.Second) {
		t.Error("HTTP/1.0 connection without keep-alive still open after the answer")
	}
}

func checkHead(t *testing.T, c *Comet) {
	conn := c.Dial(t)
	a := conn.RoundTrip(t, "HEAD /x HTTP/1.1\r\nHost: comet\r\n\r\n", holdMax+5*time.Second)
	if a.StatusCode != 200 || a.Body != "" {
		t.Fatalf("HEAD: status %d body %q", a.StatusCode, a.Body)
	}
	if got := a.Header.Get("Content-Length"); got != "3" {
		t.Errorf("HEAD Content-Length %q, want 3 (the GET body's length)", got)
	}
	// Nothing may follow the head: a next request on the connection must get a clean answer.
	b := conn.RoundTrip(t, "HEAD /y HTTP/1.1\r\nHost: comet\r\n\r\n", holdMax+5*time.Second)
	if b.StatusCode != 200 {
		t.Errorf("second HEAD on the connection: status %d", b.StatusCode)
	}
}

// checkError sends raw and wants one of statuses at once, then the connection closed.
func checkError(t *testing.T, c *Comet, raw string, statuses ...int) {
	conn := c.Dial(t)
	a := conn.RoundTrip(t, raw, 5*time.Second)
	ok := false
	for _, s := range statuses {
		ok = ok || a.StatusCode == s
	}
	if !ok {
		t.Fatalf("%s: status %d, want %v", firstLine(raw), a.StatusCode, statuses)
	}
	if a.Took >= holdMin {
		t.Errorf("%s: error answer took %v, should not be held", firstLine(raw), a.Took)
	}
	if !a.Close && !conn.WaitClosed(3*time.Second) {
		t.Errorf("%s: connection not closed after %d", firstLine(raw), a.StatusCode)
	}
}

func checkStats(t *testing.T, c *Comet) {
	const n = 4
	for i := 0; i < n; i++ {
		c.Dial(t).Send(t, get("/stats-probe"))
	}
	st := c.waitStats(t, "4 held connections", func(s schema.Stats) bool { return s.Conns >= n && s.Held >= n })
	if st.Procs != 2 || len(st.Workers) != 2 {
		t.Errorf("procs %d, workers %d: want 2 and 2", st.Procs, len(st.Workers))
	}
	if st.PSSBytes == 0 {
		t.Error("pss_bytes is 0")
	}
	// Each worker runs at least its main goroutine; a zero sum means the heartbeat does not stamp the count.
	if st.Goroutines < 2 {
		t.Errorf("goroutines %d: want at least one per worker", st.Goroutines)
	}
	var conns uint64
	for _, w := range st.Workers {
		if w.PID <= 0 || w.PSSBytes == 0 {
			t.Errorf("worker %d: pid %d pss %d", w.Index, w.PID, w.PSSBytes)
		}
		conns += w.Conns
	}
	if conns != st.Conns {
		t.Errorf("workers' conns add up to %d, /stats conns is %d", conns, st.Conns)
	}
	if st.Accepted < n {
		t.Errorf("accepted %d < %d", st.Accepted, n)
	}
}

var idCounter atomic.Uint64

// uniqueID keeps the subscriber ids of different checks apart.
func uniqueID(_ *testing.T, name string) string {
	return fmt.Sprintf("%s-%d", name, idCounter.Add(1))
}

// subscribe sends /sub for each id on a new connection and returns once comet holds them all. It first waits for
// earlier checks' connections to be gone, so the held count is this check's alone.
func subscribe(t *testing.T, c *Comet, ids []string, since uint64) []*Conn {
	t.Helper()
	c.waitStats(t, "no held requests left from earlier checks", func(s schema.Stats) bool { return s.Held == 0 })
	conns := make([]*Conn, len(ids))
	for i, id := range ids {
		conns[i] = c.Dial(t)
		conns[i].Send(t, sub(id, since))
	}
	c.waitStats(t, "subscribers held", func(s schema.Stats) bool { return s.Held == uint64(len(ids)) })
	return conns
}

// message checks an answer is the pushed message seq of kind.
func message(t *testing.T, who string, a Answer, seq uint64, kind, body string) {
	t.Helper()
	if a.StatusCode != 200 || a.Body != body || a.Header.Get("X-Seq") != strconv.FormatUint(seq, 10) ||
		a.Header.Get("X-Kind") != kind {
		t.Fatalf("%s: got status %d body %q X-Seq %q X-Kind %q, want %q seq %d kind %s",
			who, a.StatusCode, a.Body, a.Header.Get("X-Seq"), a.Header.Get("X-Kind"), body, seq, kind)
	}
	pub, err := strconv.ParseInt(a.Header.Get("X-Pub-Time"), 10, 64)
	if err != nil || time.Since(time.Unix(0, pub)) > time.Minute || time.Since(time.Unix(0, pub)) < 0 {
		t.Errorf("%s: X-Pub-Time %q is not a recent unix-nanos time", who, a.Header.Get("X-Pub-Time"))
	}
	if a.Took >= holdMin {
		t.Errorf("%s: message arrived after %v, not at once", who, a.Took)
	}
}

// noMore checks a re-poll past seq gets the empty held answer: the message is not delivered twice.
func noMore(t *testing.T, who string, conn *Conn, id string, seq uint64) {
	t.Helper()
	a := conn.RoundTrip(t, sub(id, seq), holdMax+5*time.Second)
	if a.StatusCode != 200 || a.Body != "" || a.ContentLength != 0 || a.Header.Get("X-Seq") != "" {
		t.Errorf("%s re-poll since %d: status %d body %q X-Seq %q, want the empty held answer",
			who, seq, a.StatusCode, a.Body, a.Header.Get("X-Seq"))
	}
}

// currentSeq publishes to an id nobody polls, to learn the latest seq: subscribers polling since it are not
// answered at once by earlier checks' broadcasts.
func currentSeq(t *testing.T, c *Comet) uint64 {
	return c.Publish(t, uniqueID(t, "nobody"), "seq probe").Seq
}

func checkPublish(t *testing.T, c *Comet) {
	target, other := uniqueID(t, "pub-a"), uniqueID(t, "pub-b")
	conns := subscribe(t, c, []string{target, other}, currentSeq(t, c))
	r := c.Publish(t, target, "hello "+target)
	if r.Answered != 1 || r.Seq == 0 {
		t.Fatalf("publish: %+v, want answered 1 and a seq", r)
	}
	message(t, "subscriber "+target, conns[0].Read(t, "GET", 3*time.Second), r.Seq, "pub", "hello "+target)
	// The other id's subscriber stays held until its timer: the empty answer, not the message.
	a := conns[1].Read(t, "GET", holdMax+5*time.Second)
	if a.StatusCode != 200 || a.Body != "" || a.Header.Get("X-Seq") != "" {
		t.Errorf("subscriber of another id got %q X-Seq %q", a.Body, a.Header.Get("X-Seq"))
	}
	noMore(t, "subscriber "+target, conns[0], target, r.Seq)
}

func checkBroadcast(t *testing.T, c *Comet) {
	ids := []string{uniqueID(t, "bc-a"), uniqueID(t, "bc-b"), uniqueID(t, "bc-c")}
	since := currentSeq(t, c)
	conns := subscribe(t, c, ids, since)
	r := c.Publish(t, "", "to everyone")
	if r.Answered != uint64(len(ids)) || r.Seq <= since {
		t.Fatalf("broadcast: %+v, want answered %d and seq > %d", r, len(ids), since)
	}
	// Parallel subtests, so each subscriber's re-poll (a hold window) overlaps the others'.
	t.Run("subscribers", func(t *testing.T) {
		for i, conn := range conns {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				message(t, "subscriber "+ids[i], conn.Read(t, "GET", 3*time.Second), r.Seq, "broadcast", "to everyone")
				noMore(t, "subscriber "+ids[i], conn, ids[i], r.Seq)
			})
		}
	})
}

func checkBetweenPolls(t *testing.T, c *Comet) {
	id := uniqueID(t, "late")
	conn := subscribe(t, c, []string{id}, currentSeq(t, c))[0]
	r1 := c.Publish(t, id, "one")
	message(t, "first poll", conn.Read(t, "GET", 3*time.Second), r1.Seq, "pub", "one")
	// Not polling now: the next message waits in the store.
	r2 := c.Publish(t, id, "two")
	if r2.Answered != 0 || r2.Seq <= r1.Seq {
		t.Fatalf("publish between polls: %+v, want answered 0 and seq > %d", r2, r1.Seq)
	}
	message(t, "next poll", conn.RoundTrip(t, sub(id, r1.Seq), 3*time.Second), r2.Seq, "pub", "two")
}

// suiteKeep is the suite's -keep: the broadcast ring checkBacklog overruns.
const suiteKeep = 8

// checkBacklog publishes broadcasts back to back while a subscriber is between polls, more than the ring keeps:
// re-polling with its last seq, the subscriber catches up oldest first, every message still held exactly once
// and in order; the answer after the drop names the oldest seq held (X-Oldest-Seq), and /stats counts the gap
// and the seqs it skipped. The five-broadcast lab run had nothing that would have told a drop from a delay.
func checkBacklog(t *testing.T, c *Comet) {
	id := uniqueID(t, "backlog")
	conn := subscribe(t, c, []string{id}, currentSeq(t, c))[0]
	first := c.Publish(t, "", "b0")
	message(t, "held poll", conn.Read(t, "GET", 3*time.Second), first.Seq, "broadcast", "b0")
	before, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	const extra = 3 // published beyond what the ring keeps
	var seqs []uint64
	for i := 1; i <= suiteKeep+extra; i++ {
		seqs = append(seqs, c.Publish(t, "", "b"+strconv.Itoa(i)).Seq)
	}
	// The ring dropped the first `extra` of them (and first itself): the re-poll since first gets the oldest held,
	// told that seqs in between are gone.
	a := conn.RoundTrip(t, sub(id, first.Seq), 3*time.Second)
	oldest := seqs[extra]
	message(t, "re-poll after the drop", a, oldest, "broadcast", "b"+strconv.Itoa(extra+1))
	if got := a.Header.Get("X-Oldest-Seq"); got != strconv.FormatUint(oldest, 10) {
		t.Fatalf("re-poll since %d after %d dropped: X-Oldest-Seq %q, want %d", first.Seq, extra, got, oldest)
	}
	since := oldest
	for i := extra + 1; i < len(seqs); i++ {
		a := conn.RoundTrip(t, sub(id, since), 3*time.Second)
		message(t, "catching up", a, seqs[i], "broadcast", "b"+strconv.Itoa(i+1))
		if got := a.Header.Get("X-Oldest-Seq"); got != "" {
			t.Fatalf("catching up since %d (nothing dropped): X-Oldest-Seq %q", since, got)
		}
		since = seqs[i]
	}
	after, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if g, m := after.Push.Gaps-before.Push.Gaps, after.Push.Missed-before.Push.Missed; g != 1 || m != extra {
		t.Errorf("/stats push: gaps +%d missed +%d, want +1 and +%d", g, m, extra)
	}
}

func checkDrain(t *testing.T, engine string) {
	// Its own comet with holds far longer than the drain: an answer now can only come from the drain.
	c := StartComet(t, engine, "-hold-min", "60s", "-hold-max", "60s")
	const n = 3
	conns := make([]*Conn, n)
	for i := range conns {
		conns[i] = c.Dial(t)
		conns[i].Send(t, get("/drain"))
	}
	c.waitStats(t, "held before SIGTERM", func(s schema.Stats) bool { return s.Held == n })
	start := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i, conn := range conns {
		a := conn.Read(t, "GET", 5*time.Second)
		if a.StatusCode != 200 || a.Body != "ok\n" {
			t.Errorf("held request %d on drain: status %d body %q", i, a.StatusCode, a.Body)
		}
	}
	select {
	case err := <-c.done:
		c.done <- err
		if err != nil {
			t.Errorf("comet exit after SIGTERM: %v, want status 0", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("drain took %v, want <= 5s", took)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("comet still running 6s after SIGTERM")
	}
}
