// Command comet is the long-poll server: `comet [flags]` runs the prefork master, which re-executes this binary
// as its workers (first argument -netpoll-worker). All logic lives in src/comet/master.
package main

import (
	"io"
	"os"

	"github.com/comet-lab/comet-lab/src/comet/cometcfg"
	"github.com/comet-lab/comet-lab/src/comet/goroutine"
	"github.com/comet-lab/comet-lab/src/comet/master"
	"github.com/comet-lab/comet-lab/src/comet/netpoll"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run returns the exit status: 0 done, 1 failed, 2 usage.
func run(args []string, _ io.Reader, _, stderr io.Writer) int {
	return master.Main(args, master.Engines{
		cometcfg.EngineNetpoll:   netpoll.RunWorker,
		cometcfg.EngineGoroutine: goroutine.RunWorker,
	}, stderr)
}
