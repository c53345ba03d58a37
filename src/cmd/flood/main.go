// Command flood opens and holds many long-poll connections from explicit source addresses and ports.
// See docs/flood.md.
package main

import (
	"os"

	"github.com/comet-lab/comet-lab/src/flood"
)

func main() {
	os.Exit(flood.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
