// Command flood opens and holds many long-poll connections from explicit source addresses and ports.
// See docs/flood.md.
package main

import (
	"io"
	"os"

	"github.com/comet-lab/comet-lab/src/flood"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run returns the exit status: 0 passed, 1 failed, 2 usage.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return flood.Main(args, stdin, stdout, stderr)
}
