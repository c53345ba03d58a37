// Command labmon samples the comet server (or the lab's nginx) into monitor.csv during a lab run.
//
//	labmon -exe /opt/comet/bin/comet -admin http://127.0.0.1:11182 -every 1s \
//	       -out server/monitor.csv -peak-dir server -until-file /tmp/stop-monitor
//	labmon -tree-of /run/cometlab/server/nginx.pid -admin http://127.0.0.1:11182 ...   # nginx + workers
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/comet-lab/comet-lab/src/lab/monitor"
	log "github.com/sirupsen/logrus"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run returns the exit status: 0 done, 1 failed, 2 usage.
func run(args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("labmon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg monitor.Config
	fs.StringVar(&cfg.Select.Exe, "exe", "", "select processes whose /proc/<pid>/exe is this binary")
	fs.IntVar(&cfg.Select.PGID, "pgid", 0, "select processes of this process group")
	fs.StringVar(&cfg.Select.PidsFile, "pids-from-file", "", "select the pids listed in this file (re-read every sample)")
	fs.StringVar(&cfg.Select.Match, "match", "", "select processes whose comm equals this name")
	fs.StringVar(&cfg.Select.TreeOf, "tree-of", "", "select the process whose pid this file holds and all its descendants (re-read every sample)")
	fs.StringVar(&cfg.Admin, "admin", "http://127.0.0.1:11182", `comet admin base URL for conns/held ("" = none)`)
	fs.StringVar(&cfg.AdminToken, "admin-token", os.Getenv("COMET_ADMIN_TOKEN"), "admin bearer token (env COMET_ADMIN_TOKEN)")
	fs.DurationVar(&cfg.Every, "every", time.Second, "sampling period")
	fs.StringVar(&cfg.Sockstat, "sockstat", "", "sockstat file (default: that of comet's network namespace)")
	fs.StringVar(&cfg.PeakDir, "peak-dir", "", "write top.txt, sockstat.txt, free.txt here at the connection peak")
	fs.DurationVar(&cfg.PeakEvery, "peak-every", 10*time.Second, "minimum spacing of peak snapshots")
	fs.StringVar(&cfg.UntilFile, "until-file", "", "stop once this file exists")
	out := fs.String("out", "monitor.csv", "CSV output file")
	duration := fs.Duration("duration", 0, "stop after this long (0 = until signal or -until-file)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(err error) int {
		fmt.Fprintln(stderr, "labmon:", err)
		return 2
	}
	if fs.NArg() > 0 {
		return usage(fmt.Errorf("unexpected arguments: %v", fs.Args()))
	}
	if *duration < 0 {
		return usage(fmt.Errorf("-duration %v: must not be negative", *duration))
	}
	// Validate before creating the output so a typo does not truncate an old CSV.
	if _, err := monitor.NewSampler(cfg, time.Now()); err != nil {
		return usage(err)
	}
	if err := sample(cfg, *out, *duration); err != nil {
		fmt.Fprintln(stderr, "labmon:", err)
		return 1
	}
	return 0
}

// sample writes monitor.csv to out until a signal, -until-file or the duration ends it.
func sample(cfg monitor.Config, out string, duration time.Duration) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	log.WithFields(log.Fields{"out": out, "every": cfg.Every}).Info("labmon: sampling")
	runErr := monitor.Run(ctx, cfg, f)
	if err := f.Close(); err != nil && runErr == nil {
		runErr = err
	}
	log.WithField("out", out).Info("labmon: stopped")
	return runErr
}
