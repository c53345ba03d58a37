// Command bench measures comet on loopback: `bench mem` (bytes per held connection) and `bench churn` (memory and
// descriptors come back after repeated connect/disconnect cycles). It drives the built bin/comet and bin/flood.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/comet-lab/comet-lab/src/lab/bench"
)

const usage = `usage: bench mem   [-conns N] [-engine netpoll|goroutine] [-procs auto|N] [-json FILE] [flags]
       bench churn [-cycles 10] [-conns N] [-engine ...] [-procs auto|N] [-json FILE] [flags]
run "bench mem -h" for the flags`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "mem":
		err = runMem(ctx, os.Args[2:])
	case "churn":
		err = runChurn(ctx, os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "bench: unknown command %q\n%s\n", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// common registers the flags both commands share and returns a function that finishes parsing them.
func common(fs *flag.FlagSet, defConns int) (*bench.Options, *string, func() error) {
	o := &bench.Options{Progress: os.Stderr}
	procs := fs.String("procs", "auto", "comet workers: auto (src/lab/plan: ceil(conns/(nofile-1000)), at least 2) or a number")
	fs.IntVar(&o.Conns, "conns", defConns, "connections flood opens")
	fs.StringVar(&o.Engine, "engine", "netpoll", "comet engine: netpoll or goroutine")
	fs.StringVar(&o.Comet, "comet", "bin/comet", "comet binary")
	fs.StringVar(&o.Flood, "flood", "bin/flood", "flood binary")
	fs.DurationVar(&o.RampLimit, "ramp-limit", 10*time.Minute, "longest wait for all connections to open (or close)")
	fs.StringVar(&o.WorkDir, "workdir", "", "keep comet/flood logs here (default: a temp dir, removed)")
	cometArgs := fs.String("comet-args", "", "extra comet flags, space separated (e.g. \"-hold-min 60s -hold-max 120s\")")
	jsonPath := fs.String("json", "", "append the result as JSON lines to this file")
	return o, jsonPath, func() error {
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected arguments %q", fs.Args())
		}
		if *procs != "auto" {
			n, err := strconv.Atoi(*procs)
			if err != nil || n < 1 {
				return fmt.Errorf("-procs %q: want auto or a number >= 1", *procs)
			}
			o.Procs = n
		}
		o.CometArgs = strings.Fields(*cometArgs)
		return nil
	}
}

func runMem(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench mem", flag.ExitOnError)
	o, jsonPath, finish := common(fs, 200000)
	fs.Parse(args)
	if err := finish(); err != nil {
		return err
	}
	res, err := bench.Mem(ctx, *o)
	if res.CometPSS == 0 { // no measurement
		return err
	}
	bench.PrintMem(os.Stdout, res)
	if *jsonPath != "" {
		if jerr := bench.AppendJSON(*jsonPath, res); jerr != nil {
			return errors.Join(err, jerr)
		}
	}
	return err
}

func runChurn(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench churn", flag.ExitOnError)
	o, jsonPath, finish := common(fs, 100000)
	cycles := fs.Int("cycles", 10, "connect/disconnect cycles")
	fs.Parse(args)
	if err := finish(); err != nil {
		return err
	}
	bench.PrintChurnHeader(os.Stdout)
	cycleList, err := bench.Churn(ctx, *o, *cycles, func(c bench.ChurnCycle) { bench.PrintChurnCycle(os.Stdout, c) })
	if err != nil {
		return err
	}
	v := bench.Judge(cycleList)
	bench.PrintVerdict(os.Stdout, v)
	if *jsonPath != "" {
		if err := bench.AppendJSON(*jsonPath, map[string]any{"engine": o.Engine, "cycles": cycleList, "verdict": v}); err != nil {
			return err
		}
	}
	if v.Broken() {
		return fmt.Errorf("churn promise broken: PSS %+.1f %% (limit %.0f %%), %d leaked fds", v.PSSGrowthPct, bench.MaxPSSGrowthPct, v.LeakedFDs)
	}
	return nil
}
