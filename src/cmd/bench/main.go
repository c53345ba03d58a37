// Command bench measures comet on loopback: `bench mem` (bytes per held connection) and `bench churn` (memory and
// descriptors come back after repeated connect/disconnect cycles). It drives the built bin/comet and bin/flood.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
       bench cpu   [-conns N] [-window 20s] [-broadcasts 5] [-engine ...] [-procs auto|N] [-json FILE] [flags]
       bench pub   [-conns N (sizes -procs auto)] [-publishers 32] [-window 10s] [-engine ...] [-procs auto|N] [flags]
run "bench mem -h" for the flags`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run returns the exit status: 0 done, 1 failed (or a broken churn promise), 2 usage.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "mem":
		err = runMem(ctx, args[1:], stdout, stderr)
	case "churn":
		err = runChurn(ctx, args[1:], stdout, stderr)
	case "cpu":
		err = runCPU(ctx, args[1:], stdout, stderr)
	case "pub":
		err = runPub(ctx, args[1:], stdout, stderr)
	default:
		err = usageError{fmt.Errorf("unknown command %q\n%s", args[0], usage)}
	}
	var ue usageError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
}

// usageError is a bad command line (exit status 2).
type usageError struct{ error }

// common registers the flags both commands share and returns a function that finishes parsing them.
func common(fs *flag.FlagSet, defConns int, stderr io.Writer) (*bench.Options, *string, func([]string) error) {
	fs.SetOutput(stderr)
	o := &bench.Options{Progress: stderr}
	procs := fs.String("procs", "auto", "comet workers: auto (src/lab/plan: ceil(conns/(nofile-1000)), at least 2) or a number")
	fs.IntVar(&o.Conns, "conns", defConns, "connections flood opens")
	fs.StringVar(&o.Engine, "engine", "netpoll", "comet engine: netpoll or goroutine")
	fs.StringVar(&o.Comet, "comet", "bin/comet", "comet binary")
	fs.StringVar(&o.Flood, "flood", "bin/flood", "flood binary")
	fs.DurationVar(&o.RampLimit, "ramp-limit", 10*time.Minute, "longest wait for all connections to open (or close)")
	fs.StringVar(&o.WorkDir, "workdir", "", "keep comet/flood logs here (default: a temp dir, removed)")
	cometArgs := fs.String("comet-args", "", "extra comet flags, space separated (e.g. \"-hold-min 60s -hold-max 120s\")")
	jsonPath := fs.String("json", "", "append the result as JSON lines to this file")
	return o, jsonPath, func(args []string) error {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError{err}
		}
		if fs.NArg() > 0 {
			return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
		}
		if *procs != "auto" {
			n, err := strconv.Atoi(*procs)
			if err != nil || n < 1 {
				return usageError{fmt.Errorf("-procs %q: want auto or a number >= 1", *procs)}
			}
			o.Procs = n
		}
		o.CometArgs = strings.Fields(*cometArgs)
		return nil
	}
}

func runMem(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench mem", flag.ContinueOnError)
	o, jsonPath, parse := common(fs, 200000, stderr)
	if err := parse(args); err != nil {
		return err
	}
	res, err := bench.Mem(ctx, *o)
	if res.CometPSS == 0 { // no measurement
		return err
	}
	bench.PrintMem(stdout, res)
	if *jsonPath != "" {
		if jerr := bench.AppendJSON(*jsonPath, res); jerr != nil {
			return errors.Join(err, jerr)
		}
	}
	return err
}

func runCPU(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench cpu", flag.ContinueOnError)
	o, jsonPath, parse := common(fs, 100000, stderr)
	var co bench.CPUOptions
	fs.DurationVar(&co.Window, "window", 20*time.Second, "how long hold-cycle answers are measured")
	holds := fs.String("hold-args", "-hold-min 5s -hold-max 15s", "comet hold flags of the answer phase")
	fs.IntVar(&co.Broadcasts, "broadcasts", 5, "broadcasts of the delivery phase, each waited for")
	fs.DurationVar(&co.PushLimit, "push-limit", 2*time.Minute, "longest wait for one broadcast's deliveries and re-polls")
	if err := parse(args); err != nil {
		return err
	}
	co.HoldArgs = strings.Fields(*holds)
	if co.Window <= 0 || co.Broadcasts < 1 || co.PushLimit <= 0 {
		return usageError{errors.New("-window and -push-limit must be > 0, -broadcasts >= 1")}
	}
	res, err := bench.CPU(ctx, *o, co)
	if res.Answers == 0 && res.Deliveries == 0 {
		return err
	}
	bench.PrintCPU(stdout, res)
	if *jsonPath != "" {
		if jerr := bench.AppendJSON(*jsonPath, res); jerr != nil {
			return errors.Join(err, jerr)
		}
	}
	return err
}

func runPub(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench pub", flag.ContinueOnError)
	// No connections are opened: -conns only sizes -procs auto (1M: as many workers as the lab's million needs here).
	o, jsonPath, parse := common(fs, 1000000, stderr)
	var po bench.PubOptions
	fs.IntVar(&po.Publishers, "publishers", 32, "concurrent admin clients, each POSTing /pub?id=<new id> in a loop")
	fs.DurationVar(&po.Window, "window", 10*time.Second, "how long they publish")
	if err := parse(args); err != nil {
		return err
	}
	if po.Publishers < 1 || po.Window <= 0 {
		return usageError{errors.New("-publishers must be >= 1 and -window > 0")}
	}
	res, err := bench.Pub(ctx, *o, po)
	if err != nil {
		return err
	}
	bench.PrintPub(stdout, res)
	if *jsonPath != "" {
		return bench.AppendJSON(*jsonPath, res)
	}
	return nil
}

func runChurn(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench churn", flag.ContinueOnError)
	o, jsonPath, parse := common(fs, 100000, stderr)
	cycles := fs.Int("cycles", 10, "connect/disconnect cycles")
	if err := parse(args); err != nil {
		return err
	}
	bench.PrintChurnHeader(stdout)
	cycleList, err := bench.Churn(ctx, *o, *cycles, func(c bench.ChurnCycle) { bench.PrintChurnCycle(stdout, c) })
	if err != nil {
		return err
	}
	v := bench.Judge(cycleList)
	bench.PrintVerdict(stdout, v)
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
