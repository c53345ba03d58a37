package conformance

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/testkit/enginetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	enginetest.Cleanup()
	os.Exit(code)
}

// cometHold is the suite's hold: a /sub poll is answered 200 after it, so accepted requests show as "served".
const cometHold = 300 * time.Millisecond

func startComet(t *testing.T, name string) engine {
	c := enginetest.StartComet(t, name, "-hold-min", cometHold.String(), "-hold-max", cometHold.String(), "-tick", "100ms")
	return engine{name: name, addr: c.Listen, served: 200, quiet: cometHold + time.Second}
}

func TestNetpoll(t *testing.T) {
	e := startComet(t, "netpoll")
	e.want = cometOutcome
	run(t, e)
}

func TestGoroutine(t *testing.T) {
	e := startComet(t, "goroutine")
	e.want = goroutineOutcome
	run(t, e)
}

func TestNginx(t *testing.T) {
	addr := startNginx(t)
	run(t, engine{name: "nginx", addr: addr, served: 408, quiet: nchanTimeout + 1500*time.Millisecond, want: nginxOutcome})
}

var measure = flag.Bool("measure", false, "print each engine's outcome per case instead of asserting it (to fill the table)")

// engine is one server under test.
type engine struct {
	name   string
	addr   string
	served int           // status of the answer to a held /sub poll when its hold ends
	quiet  time.Duration // how long to wait for a further answer or the close: longer than the hold
	want   func(*Case) outcome
}

// run probes every case against e in parallel and asserts e's own column.
func run(t *testing.T, e engine) {
	for i := range Cases {
		c := &Cases[i]
		t.Run(c.ID, func(t *testing.T) {
			t.Parallel()
			got := probe(t, e.addr, c.Raw, e.quiet).format(e.served)
			if *measure {
				t.Logf("MEASURED %s %s %q", e.name, c.ID, got)
				return
			}
			if want := e.want(c); got != want {
				t.Errorf("%s %s (%s %s): got %q, want %q", e.name, c.ID, c.Clause, c.Requirement, got, want)
			}
		})
	}
}

func cometOutcome(c *Case) outcome { return c.Comet }

func nginxOutcome(c *Case) outcome { return c.Nginx }
