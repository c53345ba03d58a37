// Command comet is the long-poll server: `comet [flags]` runs the prefork master, which re-executes this binary
// as its workers (first argument -netpoll-worker). All logic lives in src/master.
package main

import (
	"os"

	"github.com/comet-lab/comet-lab/src/comet/cometcfg"
	"github.com/comet-lab/comet-lab/src/comet/goroutine"
	"github.com/comet-lab/comet-lab/src/comet/master"
	"github.com/comet-lab/comet-lab/src/comet/netpoll"
)

func main() {
	os.Exit(master.Main(os.Args[1:], master.Engines{
		cometcfg.EngineNetpoll:   netpoll.RunWorker,
		cometcfg.EngineGoroutine: goroutine.RunWorker,
	}, os.Stderr))
}
