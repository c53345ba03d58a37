package enginetest

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/lib/schema"
	"github.com/comet-lab/comet-lab/src/testkit/natstest"
)

// seqStride is master.SeqStride (X-Seq = stream seq × stride), repeated here because the kit tests the binary
// from the outside.
const seqStride = 1_000_000

// Node is one comet of a scale-out test.
type node struct {
	*Comet
	name string
}

// RunScaleOut checks comet -broker: two comet servers of engine on one in-process nats-server. Publishes and
// broadcasts on either node reach the subscribers of both exactly once, X-Seq names the same message on both so
// a subscriber resumes on the other node, and a broker killed and restarted leaves each node delivering its own
// publishes (202, scope local) until fan-out resumes by itself, without leaking goroutines or fds.
func RunScaleOut(t *testing.T, engine string) {
	srv := natstest.Start(t)
	flags := []string{"-broker", srv.URL(), "-hold-min", holdMin.String(), "-hold-max", holdMax.String(), "-keep", "16"}
	a := node{StartComet(t, engine, flags...), "A"}
	b := node{StartComet(t, engine, flags...), "B"}
	for _, n := range []node{a, b} {
		n.waitStats(t, "broker connected", func(s schema.Stats) bool { return s.Broker != nil && s.Broker.Connected })
	}
	t.Run("publish", func(t *testing.T) { checkPublishAcross(t, a, b) })
	t.Run("broadcast", func(t *testing.T) { checkBroadcastAcross(t, b, a) })
	t.Run("resume_on_other_node", func(t *testing.T) { checkResumeAcross(t, a, b) })
	t.Run("broker_restart", func(t *testing.T) { checkBrokerRestart(t, srv, a, b) })
	t.Run("comet_broker_killed", func(t *testing.T) { checkCometBrokerKilled(t, a, b) })
}

// PushAnswer is the admin's answer to a publish with -broker.
type pushAnswer struct {
	Status      int
	Seq         uint64 `json:"seq"`
	Answered    uint64 `json:"answered"`
	Scope       string `json:"scope"`
	BrokerError string `json:"broker_error"`
	ScopeHeader string
}

// push posts body to /pub?id=id (or /broadcast when id is empty) and returns the answer whatever its status.
func (n node) push(t *testing.T, id, body string) pushAnswer {
	t.Helper()
	url := "http://" + n.Admin + "/broadcast"
	if id != "" {
		url = "http://" + n.Admin + "/pub?id=" + id
	}
	resp, err := adminClient.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	ans := pushAnswer{Status: resp.StatusCode, ScopeHeader: resp.Header.Get("X-Comet-Scope")}
	if err := json.Unmarshal(raw, &ans); err != nil {
		t.Fatalf("node %s POST %s: answer %q: %v", n.name, url, raw, err)
	}
	return ans
}

// cluster publishes through the broker and fails unless the answer says every node gets it.
func (n node) cluster(t *testing.T, id, body string) pushAnswer {
	t.Helper()
	ans := n.push(t, id, body)
	if ans.Status != 200 || ans.Scope != "cluster" || ans.ScopeHeader != "cluster" || ans.Seq == 0 || ans.Seq%seqStride != 0 {
		t.Fatalf("node %s publish %q: %+v, want 200, scope cluster and a seq that is a stream seq × %d", n.name, body, ans, seqStride)
	}
	return ans
}

// lastSeq publishes to an id nobody polls, to learn the newest seq, and waits until the other node has it too.
func lastSeq(t *testing.T, from, other node) uint64 {
	seq := from.cluster(t, uniqueID(t, "nobody"), "seq probe").Seq
	other.waitStats(t, "the probe through the broker", func(s schema.Stats) bool { return s.Broker.In >= seq/seqStride })
	return seq
}

func checkPublishAcross(t *testing.T, a, b node) {
	id := uniqueID(t, "across")
	since := lastSeq(t, a, b)
	onA, onB := subscribe(t, a.Comet, []string{id}, since)[0], subscribe(t, b.Comet, []string{id}, since)[0]
	r := a.cluster(t, id, "to "+id)
	if r.Answered != 1 {
		t.Errorf("publish on A answered %d, want 1 (A's own subscriber; B's counts on B)", r.Answered)
	}
	// Each node's subscriber gets it once, with the same seq; the publishing node has no echo duplicate.
	message(t, "subscriber on A", onA.Read(t, "GET", 3*time.Second), r.Seq, "pub", "to "+id)
	message(t, "subscriber on B", onB.Read(t, "GET", 3*time.Second), r.Seq, "pub", "to "+id)
	noMore(t, "subscriber on A", onA, id, r.Seq)
	noMore(t, "subscriber on B", onB, id, r.Seq)
}

func checkBroadcastAcross(t *testing.T, pub, other node) {
	ids := []string{uniqueID(t, "bc-x"), uniqueID(t, "bc-y")}
	since := lastSeq(t, pub, other)
	local, remote := subscribe(t, pub.Comet, ids, since), subscribe(t, other.Comet, ids, since)
	r := pub.cluster(t, "", "everyone, every node")
	if r.Answered != uint64(len(ids)) {
		t.Errorf("broadcast answered %d, want %d (the publishing node's subscribers)", r.Answered, len(ids))
	}
	t.Run("subscribers", func(t *testing.T) {
		for i, conn := range append(local, remote...) {
			id := ids[i%len(ids)]
			who := "subscriber " + id + " on " + []string{pub.name, other.name}[i/len(ids)]
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				message(t, who, conn.Read(t, "GET", 3*time.Second), r.Seq, "broadcast", "everyone, every node")
				noMore(t, who, conn, id, r.Seq)
			})
		}
	})
}

// checkResumeAcross: subscribed on a, it receives seq s; two more are published; its connection moves to b and
// re-polls with since=s: both, oldest first, then nothing.
func checkResumeAcross(t *testing.T, a, b node) {
	id := uniqueID(t, "mover")
	conn := subscribe(t, a.Comet, []string{id}, lastSeq(t, a, b))[0]
	s := a.cluster(t, id, "first").Seq
	message(t, "subscriber on A", conn.Read(t, "GET", 3*time.Second), s, "pub", "first")
	conn.Close()
	second, third := a.cluster(t, id, "second").Seq, b.cluster(t, "", "third").Seq
	b.waitStats(t, "both through the broker", func(st schema.Stats) bool { return st.Broker.In >= third/seqStride })
	moved := b.Dial(t)
	message(t, "moved, first re-poll", moved.RoundTrip(t, sub(id, s), 3*time.Second), second, "pub", "second")
	message(t, "moved, second re-poll", moved.RoundTrip(t, sub(id, second), 3*time.Second), third, "broadcast", "third")
	noMore(t, "moved subscriber", moved, id, third)
}

// fds counts a process's open descriptors.
func fds(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func checkBrokerRestart(t *testing.T, srv *natstest.Server, a, b node) {
	before := map[string]schema.Stats{}
	for _, n := range []node{a, b} {
		st, err := n.Stats()
		if err != nil {
			t.Fatal(err)
		}
		before[n.name] = st
	}
	// The master's and its comet-broker's descriptors (the NATS connection lives in comet-broker).
	fdsBefore := map[string][2]int{}
	for _, n := range []node{a, b} {
		fdsBefore[n.name] = [2]int{fds(t, before[n.name].MasterPID), fds(t, before[n.name].Broker.PID)}
	}
	var lastLocal uint64
	probesLocal := map[string]uint64{a.name: 3} // A's three outage publishes; B's probes that came too early
	for round := 1; round <= 3; round++ {
		since := lastSeq(t, a, b)
		srv.Stop()
		for _, n := range []node{a, b} {
			n.waitStats(t, "broker down", func(s schema.Stats) bool { return !s.Broker.Connected })
		}
		// Down: a publish on A reaches A's subscriber only, answered 202 with scope local, seq after since.
		id := uniqueID(t, "outage")
		onA, onB := subscribe(t, a.Comet, []string{id}, since)[0], subscribe(t, b.Comet, []string{id}, since)[0]
		ans := a.push(t, id, "A only")
		if ans.Status != http.StatusAccepted || ans.Scope != "local" || ans.ScopeHeader != "local" || ans.BrokerError == "" ||
			ans.Answered != 1 || ans.Seq <= since || ans.Seq >= since+seqStride || ans.Seq <= lastLocal {
			t.Fatalf("round %d: publish with the broker down: %+v, want 202, scope local, a broker_error, answered 1, seq in (%d, %d)",
				round, ans, since, since+seqStride)
		}
		lastLocal = ans.Seq
		message(t, "subscriber on A", onA.Read(t, "GET", 3*time.Second), ans.Seq, "pub", "A only")

		srv.Restart()
		for _, n := range []node{a, b} {
			n.waitStats(t, "broker back", func(s schema.Stats) bool {
				return s.Broker.Connected && s.Broker.Reconnects >= before[n.name].Broker.Reconnects+uint64(round)
			})
		}
		// Back: fan-out resumes by itself. B's subscriber never got "A only"; it gets the next cluster message,
		// and A's subscriber re-polling after the local seq gets it too, once, in order.
		probesLocal[b.name] += b.waitBrokerTakes(t)
		r := b.cluster(t, id, "both again")
		if r.Seq <= ans.Seq {
			t.Fatalf("round %d: first seq after the broker came back %d, want above the local one %d", round, r.Seq, ans.Seq)
		}
		message(t, "subscriber on B", onB.Read(t, "GET", 3*time.Second), r.Seq, "pub", "both again")
		message(t, "subscriber on A", onA.RoundTrip(t, sub(id, ans.Seq), 3*time.Second), r.Seq, "pub", "both again")
		noMore(t, "subscriber on A", onA, id, r.Seq)
	}
	// Three broker restarts later: no goroutine or fd left behind in either master or comet-broker, and the
	// counters say what happened.
	for _, n := range []node{a, b} {
		st := n.waitStats(t, "goroutines back to their count before the restarts", func(s schema.Stats) bool {
			return s.MasterGoroutines <= before[n.name].MasterGoroutines && s.Broker.Goroutines <= before[n.name].Broker.Goroutines
		})
		if st.Broker.PID != before[n.name].Broker.PID {
			t.Errorf("node %s: comet-broker pid %d, %d before: it was restarted, not reconnected", n.name, st.Broker.PID, before[n.name].Broker.PID)
		}
		if got := [2]int{fds(t, st.MasterPID), fds(t, st.Broker.PID)}; got[0] > fdsBefore[n.name][0] || got[1] > fdsBefore[n.name][1] {
			t.Errorf("node %s: master and comet-broker have %v fds after 3 broker restarts, %v before", n.name, got, fdsBefore[n.name])
		}
		if br := st.Broker; br.LocalOnly != before[n.name].Broker.LocalOnly+probesLocal[n.name] || br.Dropped != 0 {
			t.Errorf("node %s broker stats %+v: want local_only +%d, dropped 0", n.name, br, probesLocal[n.name])
		}
	}
}

// waitBrokerTakes probes n with publishes to an id nobody polls until the broker takes one (right after a
// reconnect the stream reader may need a moment) and returns how many were delivered on n only meanwhile.
func (n node) waitBrokerTakes(t *testing.T) uint64 {
	t.Helper()
	var local uint64
	deadline := time.Now().Add(10 * time.Second)
	for {
		ans := n.push(t, uniqueID(t, "nobody"), "probe")
		if ans.Status == 200 {
			return local
		}
		local++
		if time.Now().After(deadline) {
			t.Fatalf("node %s: broker not taking publishes 10s after it came back: %+v", n.name, ans)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkCometBrokerKilled: kill -9 of a node's comet-broker process. The master starts another, which carries on
// after the last stream message the node had: nothing is delivered again, the next message arrives once.
func checkCometBrokerKilled(t *testing.T, a, b node) {
	since := lastSeq(t, b, a)
	st, err := a.Stats()
	if err != nil {
		t.Fatal(err)
	}
	id := uniqueID(t, "after-kill")
	conn := subscribe(t, a.Comet, []string{id}, since)[0]
	if err := syscall.Kill(st.Broker.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.waitStats(t, "a new comet-broker connected", func(s schema.Stats) bool {
		return s.Broker.PID != 0 && s.Broker.PID != st.Broker.PID && s.Broker.Connected
	})
	r := b.cluster(t, id, "after the kill")
	message(t, "subscriber on A", conn.Read(t, "GET", 3*time.Second), r.Seq, "pub", "after the kill")
	noMore(t, "subscriber on A", conn, id, r.Seq)
	if own := a.cluster(t, uniqueID(t, "nobody"), "A publishes again"); own.Seq <= r.Seq {
		t.Errorf("publish on A after the kill got seq %d, want above %d", own.Seq, r.Seq)
	}
}
