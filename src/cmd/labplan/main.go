// Command labplan prints the lab's derived numbers (src/lab/plan) as one JSON object: the playbook's Preflight runs
// it and records the object as run.json's "plan".
//
//	labplan -conns 1000000 -clients 3 -addrs-per-client 6 -nofile 20000
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/comet-lab/comet-lab/src/lab/plan"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run returns the exit status: 0 printed, 2 bad input.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("labplan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var in plan.Input
	fs.IntVar(&in.Conns, "conns", 0, "connections the run holds (required)")
	fs.IntVar(&in.Clients, "clients", 0, "client hosts (required)")
	fs.IntVar(&in.AddrsPerClient, "addrs-per-client", 0, "source addresses on each client (required)")
	fs.IntVar(&in.Nofile, "nofile", 0, "per-process descriptor limit comet runs under (required)")
	fs.IntVar(&in.FDReserve, "fd-reserve", plan.DefaultFDReserve, "descriptors each comet process keeps for itself")
	fs.IntVar(&in.MaxConnsPerSource, "max-per-source", plan.DefaultMaxConnsPerSource, "connections one source address carries at most")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "labplan: unexpected arguments %q\n", fs.Args())
		return 2
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, name := range []string{"conns", "clients", "addrs-per-client", "nofile"} {
		if !given[name] {
			fmt.Fprintf(stderr, "labplan: -%s is required\n", name)
			fs.Usage()
			return 2
		}
	}
	if in.FDReserve == 0 || in.MaxConnsPerSource == 0 {
		fmt.Fprintln(stderr, "labplan: -fd-reserve and -max-per-source must not be 0")
		return 2
	}
	p, err := plan.Derive(in)
	if err != nil {
		fmt.Fprintf(stderr, "labplan: %v\n", err)
		return 2
	}
	b, _ := json.Marshal(p)
	fmt.Fprintf(stdout, "%s\n", b)
	return 0
}
