// Command comet is the long-poll server: `comet [flags]` runs the prefork master, which re-executes this binary
// as its workers (first argument -netpoll-worker). All logic lives in src/cometd.
package main

import (
	"os"

	"github.com/comet-lab/comet-lab/src/baseline"
	"github.com/comet-lab/comet-lab/src/cometcfg"
	"github.com/comet-lab/comet-lab/src/cometd"
	"github.com/comet-lab/comet-lab/src/server"
)

func main() {
	os.Exit(cometd.Main(os.Args[1:], cometd.Engines{
		cometcfg.EngineNetpoll:   server.RunWorker,
		cometcfg.EngineGoroutine: baseline.RunWorker,
	}, os.Stderr))
}
