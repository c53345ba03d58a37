package enginetest

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/lib/schema"
)

// floodConns is the load of the cycle check: a few thousand connections from two source addresses.
const floodConns = 3000

func readFloodLines(t *testing.T, path string) []schema.FloodFinal {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []schema.FloodFinal
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var l schema.FloodFinal
		if err := json.Unmarshal(sc.Bytes(), &l); err == nil {
			lines = append(lines, l)
		}
	}
	return lines
}

// checkFloodCycle runs flood against comet: every connection established and answered at least twice, every hold
// within [holdMin, holdMax + tick + slack], /stats agreeing with the client, and hostile input answered with its
// status meanwhile without disturbing flood's connections.
func checkFloodCycle(t *testing.T, c *Comet) {
	out := filepath.Join(t.TempDir(), "flood.jsonl")
	// One cycle takes at most holdMax + one tick, so 8 s after the ramp gives every connection two answers with room
	// for a loaded machine. The ramp is paced: an overflowing accept queue delays a connection's first answer by
	// SYN-ACK retransmits (1 s, 3 s, 7 s), which would show as holds far past holdMax.
	hold := 8 * time.Second
	cmd := exec.Command(floodBinary(t), "-target", c.Listen, "-src", "127.0.1.1,127.0.1.2",
		"-conns", strconv.Itoa(floodConns), "-procs", "2", "-rate", "1500", "-duration", hold.String(),
		"-ports", "20000-29999", "-out", out, "-progress", "off")
	log := &syncBuilder{b: &strings.Builder{}}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})

	// Once flood has every connection, the server must count the same (plus nothing else of this test yet).
	st := c.waitStats(t, "flood's connections", func(s schema.Stats) bool { return s.Conns >= floodConns })
	if st.Conns != floodConns {
		t.Errorf("/stats conns = %d while flood holds %d", st.Conns, floodConns)
	}
	// Hostile input while flood's connections are held: each gets its status, flood sees no closes (below).
	checkError(t, c, "GET / HTTP/1.1\r\nHost: comet\r\nX-Pad: "+strings.Repeat("p", 16<<10)+"\r\n\r\n", 431)
	checkError(t, c, "BREW / HTTP/1.1\r\nHost: comet\r\n\r\n", 501)
	checkError(t, c, "GET / HTTP/1.1\r\nHost: comet\r\nBad Header: x\r\n\r\n", 400)

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("flood failed: %v\n%s", err, log.b.String())
		}
	case <-time.After(hold + 60*time.Second):
		t.Fatalf("flood did not finish\n%s", log.b.String())
	}
	lines := readFloodLines(t, out)
	if len(lines) == 0 || !lines[len(lines)-1].Final {
		t.Fatalf("flood wrote no final line\n%s", log.b.String())
	}
	final := lines[len(lines)-1]
	if !final.Passed || final.Established != floodConns {
		t.Errorf("flood: passed=%v established=%d: %s", final.Passed, final.Established, final.Message)
	}
	if final.MinAnswersPerConn < 2 {
		t.Errorf("a connection got only %d answers in %v (want >= 2)", final.MinAnswersPerConn, hold)
	}
	if final.ClosedByServer != 0 || final.Non200 != 0 {
		t.Errorf("flood saw %d closes by the server and %d non-200 answers", final.ClosedByServer, final.Non200)
	}
	maxHold := (holdMax + time.Second + heldSlack).Seconds() // tick is 1 s
	if final.HoldMinS < holdMin.Seconds()-0.05 || final.HoldMaxS > maxHold {
		t.Errorf("observed holds %.2f-%.2f s, want within [%v, %.1fs]", final.HoldMinS, final.HoldMaxS, holdMin, maxHold)
	}
}
