// Command comet-broker is the NATS connection of a comet master started with -broker: the master runs it as a
// child and talks to it over an inherited socket. It is a binary of its own so that comet's workers, which are
// re-executions of comet, do not pay for the NATS client. All logic lives in src/comet/natsbroker.
package main

import (
	"os"

	"github.com/comet-lab/comet-lab/src/comet/natsbroker"
)

func main() { os.Exit(natsbroker.Main(os.Args[1:], os.Stderr)) }
